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


@pytest.mark.parametrize("width", [390, 1280])
def test_audit_filter_and_verify_then_settings_retention_by_label(browser, width):
    ctx = browser.new_context(viewport={"width": width, "height": 844})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        sign_in(page)
        page.get_by_role("link", name="Audit").click()
        expect(page.get_by_role("heading", level=1, name="Audit log")).to_be_visible()
        no_horizontal_scroll(page, width)
        page.get_by_label("Kind (or its start)").fill("config.")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"/audit\?kind=config\."))
        table = page.get_by_role("table")
        expect(table.get_by_role("cell", name=re.compile(r"^config\.")).first).to_be_visible()
        page.get_by_role("button", name="Verify the audit log").click()
        expect(page.get_by_role("status")).to_contain_text("The audit log is intact")
        no_horizontal_scroll(page, width)

        page.get_by_role("link", name="Settings").click()
        field = page.get_by_label(re.compile(r"^Days to keep"))
        field.fill("400")
        page.get_by_role("button", name="Save retention").click()
        expect(page.get_by_text("The retention must be a whole number of days from 1 to 365")).to_be_visible()
        expect(page.get_by_label(re.compile(r"^Days to keep"))).to_have_attribute("aria-invalid", "true")
        page.get_by_label(re.compile(r"^Days to keep")).fill("")
        page.get_by_role("button", name="Save retention").click()
        expect(page.get_by_role("heading", level=2, name="Retention")).to_be_visible()
        no_horizontal_scroll(page, width)
    finally:
        ctx.close()
