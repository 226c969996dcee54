"""A layout checker run inside the page: content wider than its box, and sibling boxes that overlap.

`check(page)` measures the rendered page with getBoundingClientRect and scrollWidth/clientWidth
and returns what it found, each problem with a CSS path and the boxes involved:

- overflow: an element whose content is wider (or taller) than its box, with no scroll
  container (overflow auto or scroll) between it and the page that lets the reader reach the
  rest. Hidden overflow clips text; visible overflow spills over whatever is beside it. Both count.
- overlap: two rendered siblings (in normal flow, not positioned overlays) whose boxes share
  more than a pixel each way.
- squeezed: text broken over lines of fewer than six characters on average, as in a column
  squeezed until its words fall apart (it neither overflows nor overlaps, and cannot be read).

With `page_scrolls=True` the viewport itself counts as a scroll container, for widths where a
horizontally scrolling page is an acceptable way to degrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCRIPT = r"""
({scrollingAllowed, root}) => {
    const TOLERANCE = 1;  // sub-pixel rounding
    const SQUEEZED_CHARS = 6;  // fewer characters a line than this, on average, is unreadable
    const scope = document.querySelector(root) || document.body;
    const scrolls = (value) => value === "auto" || value === "scroll";
    const box = (r) => ({x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height)});

    function path(el) {
        const parts = [];
        for (let node = el; node && node !== document.documentElement; node = node.parentElement) {
            let part = node.tagName.toLowerCase();
            if (node.id) {
                parts.unshift(part + "#" + node.id);
                break;
            }
            const classes = [...node.classList].filter((c) => !c.startsWith("durable-tone")).slice(0, 2);
            if (classes.length) part += "." + classes.join(".");
            const parent = node.parentElement;
            if (parent) {
                const same = [...parent.children].filter((c) => c.tagName === node.tagName);
                if (same.length > 1) part += `:nth-of-type(${same.indexOf(node) + 1})`;
            }
            parts.unshift(part);
        }
        return parts.join(" > ");
    }

    // Each element's style, visibility and scroll container, looked up once per check.
    const styles = new Map(), shown = new Map(), scrollers = new Map();
    function styleOf(el) {
        if (!styles.has(el)) styles.set(el, getComputedStyle(el));
        return styles.get(el);
    }

    function rendered(el) {
        if (!shown.has(el)) shown.set(el, isRendered(el));
        return shown.get(el);
    }

    function isRendered(el) {
        // Inside a closed <details>, or under display: none or visibility: hidden.
        if (!el.checkVisibility({visibilityProperty: true})) return false;
        const style = styleOf(el);
        if (style.display === "none" || style.visibility === "hidden" || style.visibility === "collapse") return false;
        // Text for screen readers only (the admin's .visually-hidden) is clipped away on purpose.
        if (style.clip === "rect(0px, 0px, 0px, 0px)" || style.clipPath === "inset(50%)") return false;
        const rect = el.getBoundingClientRect();
        // Visually hidden helpers (skip links, screen-reader labels) are 1 px boxes by design.
        return rect.width > 1 && rect.height > 1;
    }

    function scrollerAround(el) {
        if (!el || el === document.documentElement) return null;
        if (!scrollers.has(el)) {
            scrollers.set(el, scrolls(styleOf(el).overflowX) ? el : scrollerAround(el.parentElement));
        }
        return scrollers.get(el);
    }

    // What reaches furthest past el's right edge (or bottom edge, when `down`): a descendant
    // element, or a run of text (a long word has no element of its own): {where, rect}.
    function culprit(el, down, within) {
        const outer = el.getBoundingClientRect();
        let worst = null, most = TOLERANCE;
        const consider = (where, r) => {
            const past = down ? r.bottom - outer.bottom : r.right - outer.right;
            if (past > most) { most = past; worst = {where, rect: r}; }
        };
        // What a scroll container inside el holds does not stick out of el.
        const home = within ? el : scrollerAround(el);
        const reaches = (node) => rendered(node) && (node === el || scrollerAround(node.parentElement) === home);
        for (const child of el.querySelectorAll("*")) {
            if (reaches(child)) consider(path(child), child.getBoundingClientRect());
        }
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
            if (!text.data.trim() || !reaches(text.parentElement)) continue;
            const range = document.createRange();
            range.selectNodeContents(text);
            consider(path(text.parentElement) + " (text)", range.getBoundingClientRect());
        }
        return worst;
    }

    const meets = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > TOLERANCE
        && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > TOLERANCE;

    // What the part of `inner` sticking out of el's right edge lands on: a sibling of el or of one
    // of its ancestors. Spilling into empty space (a margin, the page's free right side) is harmless.
    function landsOn(el, inner) {
        const r = inner.rect;
        const edge = el.getBoundingClientRect().right;
        const out = {left: Math.max(r.left, edge), right: r.right, top: r.top, bottom: r.bottom};
        // Past a scroll container the spill is out of sight, scrolled to rather than over anything.
        const stop = scrollerAround(el.parentElement) || document.body;
        for (let node = el; node && node !== stop; node = node.parentElement) {
            for (const sibling of node.parentElement.children) {
                if (sibling === node || !rendered(sibling)) continue;
                if (meets(out, sibling.getBoundingClientRect())) return sibling;
            }
        }
        return null;
    }

    const problems = [];
    let elements = 0, pairs = 0;
    const all = [scope, ...scope.querySelectorAll("*")].filter(rendered);
    for (const el of all) {
        elements++;
        const style = styleOf(el);
        // A form control's text scrolls inside it as the reader moves the caret.
        if (style.display !== "inline" && el.clientWidth > 0 && !el.matches("input, textarea, select")) {
            const wider = el.scrollWidth - el.clientWidth > TOLERANCE;
            const taller = el.scrollHeight - el.clientHeight > TOLERANCE;
            // Hidden (or clipped) overflow hides text: always a problem. Visible overflow is one
            // when it reaches over something else; content that must be scrolled to sideways is one
            // unless scrolling is allowed. Downwards the page itself scrolls.
            let kind = null, inner = null, hit = null;
            if (wider && scrolls(style.overflowX)) {
                if (!scrollingAllowed) kind = "scrolls sideways";
            } else if (wider && style.overflowX !== "visible") kind = "clipped";
            else if (taller && !scrolls(style.overflowY) && style.overflowY !== "visible") kind = "clipped";
            else if (wider && style.overflowX === "visible") {
                inner = culprit(el, false);
                hit = inner && landsOn(el, inner);
                if (hit) kind = "spills";
            }
            if (kind) {
                inner = inner || culprit(el, !wider, kind === "scrolls sideways");
                problems.push({
                    kind: "overflow",
                    how: kind,
                    selector: path(el),
                    box: box(el.getBoundingClientRect()),
                    content: {w: el.scrollWidth, h: el.scrollHeight},
                    overflow: style.overflowX + "/" + style.overflowY,
                    culprit: inner ? inner.where : null,
                    culprit_box: inner ? box(inner.rect) : null,
                    over: hit ? path(hit) : null,
                    text: (el.innerText || "").trim().slice(0, 60),
                });
            }
        }
        const children = [...el.children].filter((c) => {
            if (!rendered(c)) return false;
            const position = styleOf(c).position;
            return position !== "absolute" && position !== "fixed";
        });
        // A block's box runs under a float beside it by design (its lines flow around the float).
        const floats = (c) => styleOf(c).float !== "none";
        // An inline element broken over lines is one box per line, not the rectangle around them.
        const pieces = children.map((c) =>
            styleOf(c).display === "inline" ? [...c.getClientRects()] : [c.getBoundingClientRect()]);
        for (let i = 0; i < children.length; i++) {
            const a = children[i].getBoundingClientRect();
            for (let j = i + 1; j < children.length; j++) {
                pairs++;
                if (floats(children[i]) !== floats(children[j])) continue;
                if (pieces[i].some((p) => pieces[j].some((q) => meets(p, q)))) {
                    const b = children[j].getBoundingClientRect();
                    problems.push({
                        kind: "overlap",
                        selector: path(children[i]),
                        box: box(a),
                        other: path(children[j]),
                        other_box: box(b),
                        text: (children[i].innerText || "").trim().slice(0, 40) + " | "
                            + (children[j].innerText || "").trim().slice(0, 40),
                    });
                }
            }
        }
    }
    // A word broken into lines of a few characters each: a column squeezed until its words fall
    // apart. (Wrapping at spaces, or at <wbr> break points between text nodes, is not that.)
    const lineCount = (range) =>
        new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
    const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        if (text.data.trim().length < SQUEEZED_CHARS || !rendered(text.parentElement)) continue;
        const range = document.createRange();
        range.selectNodeContents(text);
        if (lineCount(range) < 2) continue;
        for (const match of text.data.matchAll(/\S{6,}/g)) {
            range.setStart(text, match.index);
            range.setEnd(text, match.index + match[0].length);
            const lines = lineCount(range);
            if (lines > 1 && match[0].length / lines < SQUEEZED_CHARS) {
                problems.push({kind: "squeezed", selector: path(text.parentElement),
                    box: box(range.getBoundingClientRect()), lines, text: match[0].slice(0, 60)});
                break;
            }
        }
    }
    const doc = document.documentElement;
    if (!scrollingAllowed && doc.scrollWidth - doc.clientWidth > TOLERANCE) {
        const inner = culprit(document.body, false, false);
        problems.push({kind: "overflow", how: "page scrolls sideways", selector: "html",
            box: box(doc.getBoundingClientRect()), content: {w: doc.scrollWidth}, overflow: "page",
            culprit: inner && inner.where, culprit_box: inner && box(inner.rect), text: ""});
    }
    return {problems, elements, pairs};
}
"""


@dataclass(frozen=True)
class Report:
    """What one check of one page found."""

    problems: list[dict[str, Any]]
    elements: int
    pairs: int

    def kinds(self) -> set[str]:
        return {problem["kind"] for problem in self.problems}


def check(page, *, scrolling_allowed: bool = False, root: str = "body") -> Report:
    """Measure the page as rendered now (see the module docstring)."""
    found = page.evaluate(SCRIPT, {"scrollingAllowed": scrolling_allowed, "root": root})
    return Report(found["problems"], found["elements"], found["pairs"])


def describe(problem: dict[str, Any]) -> str:
    """One problem on one line: what, where, and the boxes."""
    if problem["kind"] == "squeezed":
        return (
            f"squeezed: {problem['selector']} {problem['box']} breaks {problem['text']!r} over {problem['lines']} lines"
        )
    if problem["kind"] == "overlap":
        return (
            f"overlap: {problem['selector']} {problem['box']} and {problem['other']} {problem['other_box']}"
            f" ({problem['text']!r})"
        )
    inner = f"; widest inside: {problem['culprit']} {problem['culprit_box']}" if problem.get("culprit") else ""
    over = f", over {problem['over']}" if problem.get("over") else ""
    return (
        f"overflow, {problem['how']} ({problem['overflow']}): {problem['selector']} {problem['box']} holds content "
        f"{problem['content']}{inner}{over} ({problem['text']!r})"
    )
