// Reloads an active instance's page every few seconds, holding still while the reader is busy:
// typing in a form, a field in focus, text selected, or a folded payload opened.
"use strict";
{
    const script = document.currentScript;
    const seconds = Number(script.dataset.seconds) || 3;
    const url = script.dataset.url || window.location.pathname;

    function busy() {
        const active = document.activeElement;
        if (active && active.matches("input, textarea, select")) {
            return true;
        }
        if (document.querySelector("form[data-dirty], details[open]")) {
            return true;
        }
        return String(window.getSelection()).length > 0;
    }

    document.addEventListener("input", function(event) {
        const form = event.target.closest("form");
        if (form) {
            form.dataset.dirty = "1";
        }
    });
    window.setInterval(function() {
        if (!busy()) {
            window.location.replace(url);
        }
    }, seconds * 1000);
}
