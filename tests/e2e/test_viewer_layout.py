"""Every viewer page at common widths, light and dark: no clipped text, no overflowing or overlapping boxes.

One live server, one browser page: each viewer page is loaded once, then resized and re-themed in
place and measured by `tests.e2e.layout` each time. From 1280 px up nothing may overflow or
overlap; below, the page may scroll sideways but still nothing may overlap. With
DURABLE_SCREENSHOTS=1 the run also writes docs/screenshots/ from the same data.
"""

from __future__ import annotations

import os
import re

import pytest
from django.contrib.auth.models import User

from durable.models import Event, Timer
from tests.conftest import ROOT
from tests.e2e import layout, viewer_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1440, 1920)
NARROW = (1024, 800)
HEIGHT = 900
# (prefers-color-scheme, the admin's data-theme): the admin follows the system in "auto" and
# its theme toggle overrides it.
THEMES = {"light": ("light", "light"), "dark": ("dark", "auto"), "dark by the toggle": ("light", "dark")}
# Every width in light and dark; the toggle's dark (the same stylesheet as the system's) at one width.
VIEWS = [(width, theme) for theme in ("light", "dark") for width in WIDTHS + NARROW] + [(1440, "dark by the toggle")]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ARTIFACTS = ROOT / "artifacts"
PASSWORD = "a-long-password"


def viewer_pages(data: viewer_data.ViewerData) -> dict[str, str]:
    """Every kind of viewer page, by name, with the path that shows it."""
    base = "/admin/durable"
    review = Event.objects.get(type=viewer_data.REVIEW_DONE).seq
    fanned = Event.objects.get(type=viewer_data.STOCK).seq
    queued = Event.objects.get(type__endswith="customer_uploaded_additional_document").seq
    timer = Timer.objects.filter(instance_id=data.sleeping).get().pk
    pages = {
        "admin index": "/admin/",
        "durable index": f"{base}/",
        "instance list": f"{base}/workflowinstance/",
        "instance list, waiting for an event": f"{base}/workflowinstance/?status__exact=waiting_for_event",
    }
    pages |= {
        f"instance page, {kind.replace('_', ' ')}": f"{base}/workflowinstance/{pk}/change/"
        for kind, pk in data.instances.items()
    }
    pages |= {
        "instance history": f"{base}/workflowinstance/{data.completed}/history/",
        "event list": f"{base}/event/",
        "event page, resumed an instance": f"{base}/event/{review}/change/",
        "event page, went to five instances": f"{base}/event/{fanned}/change/",
        "event page, kept for an instance": f"{base}/event/{queued}/change/",
        "timer list": f"{base}/timer/",
        "timer page": f"{base}/timer/{timer}/change/",
    }
    return pages


@pytest.fixture
def viewer(live_server, chromium):
    """(a logged-in page, the data, the live server's URL); active pages do not refresh themselves."""
    data = viewer_data.build()
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    page = chromium.new_page(viewport={"width": WIDTHS[0], "height": HEIGHT})
    # The 3 s self-refresh would reload a page between two measurements.
    page.route(re.compile(r".*/durable/refresh\.js$"), lambda route: route.abort())
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    yield page, data, live_server.url
    page.close()


def show(page, width: int, theme: str) -> None:
    """Resize and re-theme the page in place, and make sure the theme took."""
    scheme, data_theme = THEMES[theme]
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.emulate_media(color_scheme=scheme)
    page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", data_theme)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    brightness = sum(int(n) for n in re.findall(r"\d+", background)[:3])
    assert (brightness < 150) if theme.startswith("dark") else (brightness > 600), f"{theme}: body is {background}"


def test_viewer_layout__nothing_overflows_or_overlaps_at_any_width_or_theme(viewer, capsys):
    page, data, base = viewer
    failures: list[str] = []
    elements = pairs = checks = 0
    pages = viewer_pages(data)
    for name, path in pages.items():
        page.goto(base + path)
        assert page.locator("#content").count() == 1, f"{name} ({path}) did not render the admin's page"
        for width, theme in VIEWS:
            show(page, width, theme)
            report = layout.check(page, scrolling_allowed=width in NARROW)
            checks += 1
            elements, pairs = elements + report.elements, pairs + report.pairs
            failures += [f"{name} at {width} px, {theme}: {layout.describe(p)}" for p in report.problems]
    with capsys.disabled():
        print(
            f"\n[report] viewer layout: {len(pages)} pages x {len(VIEWS)} width-and-theme views = {checks} checks; "
            f"{elements} element boxes and {pairs} sibling pairs measured"
        )
    if failures:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "viewer-layout-problems.txt").write_text("\n".join(failures) + "\n")
    assert not failures, f"{len(failures)} layout problem(s), all in artifacts/:\n" + "\n".join(failures[:40])
    assert checks == len(pages) * len(VIEWS) and elements > checks * 100

    if os.environ.get("DURABLE_SCREENSHOTS") == "1":
        write_screenshots(page, data, base)


def write_screenshots(page, data: viewer_data.ViewerData, base: str) -> None:
    """The README's pictures, from this test's data, in both themes."""
    shots = {
        "admin-instances": "/admin/durable/workflowinstance/",
        "admin-instance": f"/admin/durable/workflowinstance/{data.waiting}/change/",
        "admin-saga": f"/admin/durable/workflowinstance/{data.compensating}/change/",
        "admin-events": "/admin/durable/event/",
    }
    for name, path in shots.items():
        page.goto(base + path)
        for theme, suffix in (("light", ""), ("dark", "-dark")):
            show(page, 1440, theme)
            # A list's picture ends below its rows, not at the end of its (long) filters.
            rows = page.locator(".changelist-form-container")
            end = rows.bounding_box() if rows.count() else None
            clip = {"x": 0, "y": 0, "width": 1440, "height": end["y"] + end["height"] + 24} if end else None
            page.screenshot(path=SCREENSHOTS / f"{name}{suffix}.png", full_page=True, clip=clip)


def test_layout_checker__finds_clipped_spilled_and_overlapping_boxes(chromium):
    """The checker on pages built to fail (and on the same content laid out right)."""
    page = chromium.new_page(viewport={"width": 800, "height": 600})
    word = "com.example.identity.verification.document_review_completed"
    page.set_content(
        f"""
        <div style="display: flex"><div id="spill" style="width: 120px">{word}</div><div>beside</div></div>
        <div id="free" style="width: 120px">{word}</div>
        <div id="clip" style="width: 120px; overflow: hidden; white-space: nowrap">{word}</div>
        <div id="pair"><p id="first" style="height: 40px; margin: 0">a</p>
             <p id="second" style="height: 40px; margin: -20px 0 0">b</p></div>
        <div id="scroller" style="width: 120px; overflow-x: auto"><div style="width: 400px">{word}</div></div>
        <div id="wrapped" style="width: 120px; overflow-wrap: anywhere">{word}</div>
        <div id="squeeze" style="width: 40px"><span style="overflow-wrap: anywhere">payment_completed</span></div>
        <div id="overlay" style="position: relative; height: 30px"><span>x</span>
             <span style="position: absolute; inset: 0">badge</span></div>
        """
    )
    # Spilling into free space (#free) is harmless; a table scrolling in its own box is allowed
    # only where scrolling is.
    strict, lenient = layout.check(page), layout.check(page, scrolling_allowed=True)
    spilled = {("overflow", "div#spill"), ("overflow", "div#clip"), ("overlap", "p#first")}
    spilled |= {("squeezed", "div#squeeze > span")}
    assert {(p["kind"], p["selector"]) for p in lenient.problems} == spilled, lenient.problems
    assert {(p["kind"], p["selector"]) for p in strict.problems} == spilled | {("overflow", "div#scroller")}
    assert {p["how"] for p in strict.problems if p["kind"] == "overflow"} == {"spills", "clipped", "scrolls sideways"}
    overlap = next(p for p in strict.problems if p["kind"] == "overlap")
    assert overlap["other"] == "p#second" and overlap["box"]["h"] == 40
    assert overlap["other_box"]["y"] - overlap["box"]["y"] == 20  # 20 px of the first under the second
    spill = layout.describe(next(p for p in strict.problems if p["selector"] == "div#spill"))
    assert (
        spill.startswith("overflow, spills (visible/visible): div#spill {'x': 8, ") and "over div (text)" not in spill
    )
    assert "div#spill (text)" in spill and spill.endswith(f"({word!r})")
    squeezed = layout.describe(next(p for p in strict.problems if p["kind"] == "squeezed"))
    assert re.fullmatch(r"squeezed: div#squeeze > span \{[^}]*\} breaks 'payment_completed' over [3-9] lines", squeezed)
    page.close()


def test_layout_checker__reports_a_broken_viewer_page(viewer):
    """A real viewer page passes, then fails with the boxes of what a stylesheet broke."""
    page, data, base = viewer
    page.goto(f"{base}/admin/durable/workflowinstance/{data.waiting}/change/")
    show(page, 1440, "light")
    assert layout.check(page).problems == []
    page.add_style_tag(
        content=".durable-timeline table { table-layout: fixed; width: 600px !important; }"
        ".durable-timeline td { white-space: nowrap; overflow: hidden; }"
        ".durable-timeline { margin-top: -120px; }"
    )
    report = layout.check(page)
    messages = "\n".join(layout.describe(p) for p in report.problems)
    assert report.kinds() == {"overflow", "overlap"}, messages
    assert re.search(r"overflow, clipped \(hidden/hidden\): .*durable-timeline.* > tbody > tr.* > td", messages)
    above = r"overlap: div#content-main > div\.durable-columns\S* \{[^}]*\}"
    overlap = above + r" and div#content-main > div\.module\.durable-timeline"
    assert re.search(overlap, messages), messages
