"""The admin console in a real headless Chromium (Debian's `chromium`, driven by Playwright), used
as a person uses it: keyboard, labels and roles, never CSS paths.

Environment: CALLFORCE_CONSOLE_URL (a running `callforce serve`, e.g. http://127.0.0.1:PORT),
CALLFORCE_API_KEY (one of its API keys), CALLFORCE_CHROMIUM (the browser, default
/usr/bin/chromium) and, if set, CALLFORCE_CONSOLE_SCREENSHOT (where to save a 1280 px screenshot
of Overview, for the docs)."""

import os
import re

import pytest
from playwright.sync_api import expect, sync_playwright

URL = os.environ.get("CALLFORCE_CONSOLE_URL", "").rstrip("/")
KEY = os.environ.get("CALLFORCE_API_KEY", "")
CHROMIUM = os.environ.get("CALLFORCE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("CALLFORCE_CONSOLE_SCREENSHOT", "")

VIEWPORT_META = "width=device-width, initial-scale=1"
# NB: "disconnected" contains "connected"; \b keeps it from matching.
CONNECTED = re.compile(r"\bconnected\b", re.IGNORECASE)
NUMBER = re.compile(r"^\s*\d[\d,]*\s*$")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module. Chromium's sandbox needs user namespaces that a
    root process in a container does not get, so root runs it without."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile (no cookies) at 1280 px."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    # A local page that is not there in 10 s is not coming (Playwright waits 30 s by default).
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def session_cookie(context):
    return next((c for c in context.cookies(URL) if c["name"] == "cf_session"), None)


def expect_viewport_meta(page):
    # A <meta> has no role or label: it is found by its name, as a browser does.
    assert page.locator('meta[name="viewport"]').get_attribute("content") == VIEWPORT_META


def tab_to(page, field, most=15):
    """Presses Tab until `field` has the focus, as a keyboard user does."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if field.evaluate("el => el === document.activeElement"):
            return
    pytest.fail(f"{most} presses of Tab never reached the field")


def sign_in(page, key=KEY):
    """Signs in with the keyboard only: Tab to the API key field, type the key, press Enter."""
    page.goto(URL + "/sign-in")
    field = page.get_by_label("API key")
    expect(field).to_have_attribute("type", "password")
    tab_to(page, field)
    page.keyboard.type(key)
    page.keyboard.press("Enter")


def no_horizontal_scroll(page, width):
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide in a {width} px window"


def test_root_without_a_session_redirects_to_sign_in(page):
    answer = page.request.get(URL + "/", max_redirects=0)
    assert answer.status == 303, answer.status
    assert answer.headers["location"].endswith("/sign-in"), answer.headers["location"]

    page.goto(URL + "/")
    expect(page).to_have_url(URL + "/sign-in")
    expect(page).to_have_title(re.compile("Sign in"))
    expect_viewport_meta(page)
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # The form posts its CSRF token; its value is never empty.
    assert page.locator('input[type="hidden"][name="csrf"]').get_attribute("value")


def test_sign_in_with_the_keyboard_shows_overview(page, context):
    sign_in(page)

    expect(page).to_have_url(URL + "/")
    expect(page).to_have_title(re.compile("Overview"))
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    expect_viewport_meta(page)

    cookie = session_cookie(context)
    assert cookie is not None, context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"

    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="Overview")).to_be_visible()
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()

    # The counters have no label of their own yet; the pages' contract fixes their ids.
    for counter in ("open-calls", "queued-writes", "open-dead-letters"):
        expect(page.locator(f"#{counter}")).to_have_text(NUMBER)

    connections = page.locator("#connections")
    expect(connections).to_have_role("table")
    embedded = connections.get_by_role("row").filter(has_text="embedded dev org")
    expect(embedded).to_have_count(1)
    # Cell by cell: the row's text runs its cells together ("embedded dev orgconnected").
    expect(embedded.get_by_role("cell", name=CONNECTED)).to_have_count(1)

    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)


def test_a_wrong_key_shows_an_alert_and_sets_no_cookie(page, context):
    page.goto(URL + "/sign-in")
    page.get_by_label("API key").fill("cf_not_a_key_of_this_workspace")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/sign-in")
    ) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401, answer.value.status

    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page).to_have_title(re.compile("Sign in"))
    expect(page.get_by_label("API key")).to_be_visible()
    assert session_cookie(context) is None, context.cookies()


def test_sign_out_ends_the_session(page, context, browser):
    sign_in(page)
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    old = session_cookie(context)
    assert old is not None

    page.get_by_role("navigation").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(URL + "/sign-in")
    page.goto(URL + "/")
    expect(page).to_have_url(URL + "/sign-in")

    # The old cookie, kept by someone else, opens nothing any more: the session ended on the
    # server, not only in this browser.
    other = browser.new_context()
    try:
        other.add_cookies([old])
        answer = other.request.get(URL + "/", max_redirects=0)
        assert answer.status == 303, answer.status
        assert answer.headers["location"].endswith("/sign-in"), answer.headers["location"]
    finally:
        other.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_no_horizontal_scroll(browser, width):
    ctx = browser.new_context(viewport={"width": width, "height": 844})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(URL + "/sign-in")
        no_horizontal_scroll(page, width)
        sign_in(page)
        expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
        no_horizontal_scroll(page, width)
    finally:
        ctx.close()


def test_break_an_intent_map_and_see_the_report(page):
    """A map with a field the org lacks and a status it does not offer: the check lists both
    with their fixes, saving is refused with the same report, and JSON that does not parse is
    refused next to the editor. Nothing is stored, so the other tests see no map."""
    sign_in(page)
    page.get_by_role("navigation").get_by_role("link", name="Intents").click()
    expect(page.get_by_role("heading", level=1, name="Intents")).to_be_visible()
    editor = page.get_by_label("Intent map (JSON)")
    broken = (
        '{"intents": {"demo_requested": {"object": "Opportunity", "record": {"var": '
        '"last.Opportunity.Id"}, "fields": {"Demo_Requestd_At__c": "now"}}, '
        '"qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"}, '
        '"fields": {"Status": {"const": "Hot and ready"}}}}}'
    )
    editor.fill(broken)
    page.get_by_label("Check against").select_option(label="embedded dev org (default)")
    page.get_by_role("button", name="Check", exact=True).click()

    expect(page.get_by_role("heading", level=2, name="Check")).to_be_visible()
    problems = page.get_by_role("table", name=re.compile("Every problem"))
    unknown = problems.get_by_role("row").filter(has_text="unknown_field")
    expect(unknown).to_have_count(1)
    expect(unknown.get_by_role("cell", name="demo_requested", exact=True)).to_have_count(1)
    expect(unknown.get_by_role("cell").last).to_contain_text("Demo_Requested_At__c")
    picklist = problems.get_by_role("row").filter(has_text="invalid_picklist_value")
    expect(picklist).to_have_count(1)
    expect(picklist.get_by_role("cell", name="Lead.Status", exact=True)).to_have_count(1)
    # The editor keeps the map that was checked.
    expect(editor).to_have_value(broken)

    page.get_by_role("button", name="Save and activate").click()
    expect(page.get_by_role("alert")).to_contain_text("not activated")
    expect(page.get_by_role("heading", level=2, name="Why the map was not saved")).to_be_visible()
    expect(editor).to_have_attribute("aria-invalid", "true")

    editor.fill('{"qualified": "Lead.Status",')
    page.get_by_role("button", name="Save and activate").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid JSON")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    no_horizontal_scroll(page, 1280)

    # The report is readable on a phone: its tables scroll inside themselves, not the page.
    page.set_viewport_size({"width": 390, "height": 844})
    editor.fill(broken)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.get_by_role("heading", level=2, name="Check")).to_be_visible()
    no_horizontal_scroll(page, 390)
