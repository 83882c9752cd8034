"""The admin console in a real headless Chromium (Debian's `chromium`, driven by Playwright), used
as a person uses it: keyboard, labels and roles, never CSS paths.

Environment: CALLFORCE_CONSOLE_URL (a running `callforce serve`, e.g. http://127.0.0.1:PORT),
CALLFORCE_API_KEY (one of its API keys), CALLFORCE_CHROMIUM (the browser, default
/usr/bin/chromium), CALLFORCE_SECOND_ORG (a dev org the service's logins go to) and, if set, CALLFORCE_CONSOLE_SCREENSHOTS (a directory where the last test
saves a 1280 px screenshot of every page, for the docs)."""

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

URL = os.environ.get("CALLFORCE_CONSOLE_URL", "").rstrip("/")
KEY = os.environ.get("CALLFORCE_API_KEY", "")
CHROMIUM = os.environ.get("CALLFORCE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("CALLFORCE_CONSOLE_SCREENSHOTS", "")
# A second dev org, where the service sends the console's Connect (its login host override).
SECOND_ORG = os.environ.get("CALLFORCE_SECOND_ORG", "").rstrip("/")

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


def test_agents_and_custom_actions(page):
    """Three switches on an agent change the tools a model sees; a custom action with a mistake
    shows it next to the field, saves once fixed, and Try it shows its request and the answer."""
    sign_in(page)
    page.get_by_role("navigation").get_by_role("link", name="Agents and actions").click()
    expect(page.get_by_role("heading", level=1, name="Agents")).to_be_visible()
    page.get_by_label(re.compile(r"^Name")).fill("browser-desk")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", level=1, name="Agent browser-desk")).to_be_visible()
    tools = page.get_by_role("list", name="The tools a model sees")
    expect(tools.get_by_role("listitem")).to_have_count(0)

    for name in ("search_contact", "create_case", "get_case"):
        page.get_by_role("checkbox", name=re.compile(rf"^{name}\b")).check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(tools.get_by_role("listitem")).to_have_count(3)
    for name in ("search_contact", "create_case", "get_case"):
        expect(tools.get_by_role("listitem").filter(has_text=name)).to_have_count(1)
    expect(page.get_by_text(re.compile(r"^3 tools, about \d+ tokens"))).to_be_visible()

    page.goto(URL + "/actions")
    page.get_by_role("link", name="New custom action").click()
    page.get_by_label(re.compile(r"^Name")).fill("browser_lookup")
    page.get_by_label(re.compile(r"^Description")).fill("Contacts with this last name.")
    page.get_by_label("Method").select_option("GET")
    endpoint = page.get_by_label(re.compile(r"^Endpoint"))
    endpoint.fill("/services/oauth2/token")
    page.get_by_label(re.compile(r"^Parameters")).fill(
        '[{"name": "last_name", "location": "query", "required": true}]'
    )
    page.get_by_role("button", name="Create custom action").click()
    expect(endpoint).to_have_attribute("aria-invalid", "true")
    expect(endpoint).to_have_accessible_description(re.compile("endpoint must start"))

    endpoint.fill(
        "/services/data/v59.0/query/?q=SELECT+Id,LastName+FROM+Contact"
        "+WHERE+LastName='{{last_name}}'+LIMIT+5"
    )
    page.get_by_role("button", name="Create custom action").click()
    expect(page.get_by_role("heading", level=1, name="Custom action browser_lookup")).to_be_visible()

    page.get_by_label(re.compile(r"^Sample arguments")).fill('{"last_name": "Johnson"}')
    page.get_by_role("button", name="Try it").click()
    result = page.get_by_role("region", name=re.compile("^Result on"))
    expect(result).to_contain_text("GET /services/data/v59.0/query/?q=SELECT")
    expect(result).to_contain_text("Johnson")

    for path in ("/agents/browser-desk", "/actions/browser_lookup"):
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(URL + path)
        no_horizontal_scroll(page, 390)


# --- Journeys that start in the agent API and end in the console --------------------------------


def api(method, path, body=None, key=KEY):
    """The agent API as a runtime calls it: its JSON answer, or (status, JSON) when refused."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def org_url():
    return api("GET", "/v1/connections")["connections"][0]["instance_url"]


def org_query(soql):
    """A SOQL query straight to the embedded dev org, as its own user."""
    org = org_url()
    form = urllib.parse.urlencode({
        "grant_type": "password", "client_id": "callforce-devorg-client",
        "client_secret": "callforce-devorg-secret", "username": "dev@callforce.local",
        "password": "devorg-password",
    }).encode()
    with urllib.request.urlopen(org + "/services/oauth2/token", data=form, timeout=30) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(
        org + "/services/data/v59.0/query?" + urllib.parse.urlencode({"q": soql}))
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["records"]


def eventually(check, what, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.2)


# The seed 003 call's id, for the screenshot of a timeline.
SEED_CALL = []


def test_the_seed_003_call_is_found_in_calls_with_its_tool_calls(page):
    """Seed 003's example call, made as a voice runtime makes it, is in Calls; its timeline shows
    each tool call in order with its outcome and latency."""
    call = api("POST", "/v1/calls", {"caller_phone": "+15551234567"})["call_id"]
    SEED_CALL.append(call)
    run = lambda action, args: api("POST", f"/v1/calls/{call}/actions/{action}", {"arguments": args})
    found = run("search_contact", {"search_term": "{{caller_phone}}"})
    assert found["result"]["records"], found
    case = run("create_case", {"Subject": "Invoice discrepancy", "Priority": "High",
                               "ContactId": "{{search_contact.Id}}"})
    assert case["result"]["success"], case
    logged = run("log_call", {"Subject": "Call about the invoice", "WhoId": "{{search_contact.Id}}"})
    assert logged["result"]["queued"], logged
    event = run("schedule_event", {"Subject": "Callback", "StartDateTime": "2030-01-07T15:00:00Z",
                                   "EndDateTime": "2030-01-07T15:30:00Z",
                                   "WhoId": "{{search_contact.Id}}"})
    assert event["result"]["queued"], event

    sign_in(page)
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Calls").click()
    page.get_by_role("link", name=call).click()
    expect(page.get_by_role("heading", level=1, name=f"Call {call}")).to_be_visible()
    steps = page.locator("#timeline > li")
    # The operations log is written off the hot path: the page may need a reload to catch up.
    for _ in range(20):
        if steps.count() == 5:
            break
        time.sleep(0.25)
        page.reload()
    expect(steps).to_have_count(5)
    actions = ("caller_context", "search_contact", "create_case", "log_call", "schedule_event")
    for i, action in enumerate(actions):
        heading = steps.nth(i).get_by_role("heading")
        expect(heading).to_contain_text(action)
        expect(heading).to_contain_text(re.compile(r"\d+(\.\d+)? (ms|µs|s)"))
        # The caller looked up at start and the case reached the org; the search for the
        # caller's phone was answered from the call, the log and the callback were queued.
        expect(heading).to_contain_text(
            re.compile(r"\b[1-9]\d* requests? to the org")
            if action in ("caller_context", "create_case") else "no request to the org")
    # The records each tool call touched link to the org; the queued write says where it is.
    org = org_url()
    case_link = steps.nth(2).get_by_role("link", name=case["result"]["id"])
    expect(case_link).to_have_attribute("href", f"{org}/{case['result']['id']}")
    reference = logged["result"]["reference"]
    for _ in range(20):
        if "written" in steps.nth(3).inner_text():
            break
        time.sleep(0.25)
        page.reload()
    expect(steps.nth(3)).to_contain_text(f"Queued write {reference} (done): written")
    expect(steps.nth(3).get_by_role("link", name=re.compile(r"^00T"))).to_have_count(1)


def test_a_dead_letter_is_edited_and_replayed_from_the_console(page):
    """The org refuses a queued Task as a validation rule would; the admin finds the dead letter
    of the call, fixes its Subject in the console and replays it; the Task lands in the org."""
    org = org_url()
    rule = {"rules": [{"kind": "validation_rule", "count": 1,
                       "path": "/services/data/*/sobjects/Task*"}]}
    req = urllib.request.Request(org + "/devorg/faults", data=json.dumps(rule).encode(),
                                 method="PUT")
    urllib.request.urlopen(req, timeout=30).close()
    call = api("POST", "/v1/calls", {"caller_phone": "+15551234567"})["call_id"]
    api("POST", f"/v1/calls/{call}/actions/log_call", {"arguments": {"Subject": "Refused at first"}})
    dead = eventually(
        lambda: api("GET", f"/v1/deadletters?status=open&call_id={call}")["dead_letters"],
        "the refused write's dead letter")
    dl = dead[0]["id"]

    sign_in(page)
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    page.goto(URL + f"/deadletters?call_id={urllib.parse.quote(call)}")
    page.get_by_role("link", name=f"Dead letter {dl}").click()
    expect(page.locator("#attempts")).to_contain_text("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    editor = page.get_by_label("Payload (JSON)")
    payload = json.loads(editor.input_value())
    fixed = f"Fixed in the console {call}"
    payload["request"]["record"]["Subject"] = fixed
    editor.fill(json.dumps(payload, indent=2))
    page.get_by_role("button", name="Save payload").click()
    expect(page.get_by_label("Payload (JSON)")).to_contain_text(fixed)
    page.get_by_role("button", name="Replay", exact=True).click()
    expect(page.locator("#status")).to_have_text("replayed")

    tasks = eventually(
        lambda: org_query(f"SELECT Id, Subject FROM Task WHERE Subject = '{fixed}'"),
        "the replayed Task in the org")
    assert len(tasks) == 1, tasks


def test_a_revoked_key_is_refused_by_the_api_and_the_console(page, browser):
    """A key made and revoked in Settings opens nothing afterwards, neither the API nor a
    console session signed in with it."""
    sign_in(page)
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Settings").click()
    page.get_by_label(re.compile(r"^Name")).fill("browser to revoke")
    page.get_by_role("button", name="Create key").click()
    new_key = page.locator("#new-key-value").inner_text().strip()
    assert new_key.startswith("cf_"), new_key
    assert api("GET", "/v1/connections", key=new_key)["connections"]

    other = browser.new_context()
    try:
        other_page = other.new_page()
        sign_in(other_page, key=new_key)
        expect(other_page.get_by_role("heading", level=1, name="Overview")).to_be_visible()

        page.goto(URL + "/settings")
        row = page.get_by_role("row").filter(has_text="browser to revoke")
        row.get_by_role("link", name=re.compile("Revoke")).click()
        page.get_by_role("button", name="Revoke", exact=True).click()
        revoked = page.get_by_role("row").filter(has_text="browser to revoke")
        expect(revoked.get_by_role("link", name=re.compile("Revoke"))).to_have_count(0)

        status, body = api("GET", "/v1/connections", key=new_key)
        assert status == 401, (status, body)
        other_page.goto(URL + "/")
        expect(other_page).to_have_url(URL + "/sign-in")
    finally:
        other.close()
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


def test_connect_a_second_dev_org_through_its_login_page(page):
    """Connect in the console sends the browser to the org's login page; after Allow, the
    service says Connected and the connection is listed as connected."""
    if not SECOND_ORG:
        pytest.skip("no second dev org: set CALLFORCE_SECOND_ORG (the Rust harness does)")
    sign_in(page)
    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    page.get_by_label("Environment").select_option("sandbox")
    page.get_by_label("Scope profile").select_option("standard")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page).to_have_url(re.compile("^" + re.escape(SECOND_ORG) + "/services/oauth2/authorize"))
    page.get_by_label("Username").fill("dev@callforce.local")
    page.get_by_label("Password").fill("devorg-password")
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("p.status")).to_have_text("Connected")
    expect(page.locator(".instance-url")).to_have_text(SECOND_ORG)
    connection = page.locator(".connection-id").inner_text()
    page.get_by_role("link", name=re.compile("connections")).click()
    row = page.locator("#connections tbody tr").filter(
        has=page.locator(f'a[href="/connections/{connection}"]'))
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell", name=CONNECTED)).to_have_count(1)


# Last, once the tests above filled the workspace: every page, as an admin first sees it.
PAGES = [
    ("overview", "/", None),
    ("calls", "/calls", None),
    ("call", "/calls", "#calls tbody a"),
    ("connections", "/connections", None),
    ("connection", "/connections", "#connections tbody a"),
    ("deadletters", "/deadletters", None),
    ("deadletter", "/deadletters", "#deadletters tbody a"),
    ("jobs", "/jobs", None),
    ("agents", "/agents", None),
    ("agent", "/agents/browser-desk", None),
    ("actions", "/actions", None),
    ("action", "/actions/browser_lookup", None),
    ("intents", "/intents", None),
    ("audit", "/audit", None),
    ("settings", "/settings", None),
]


def test_every_page_has_its_heading_and_fits_1280_px(page):
    sign_in(page)
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    for name, path, follow in PAGES:
        if name == "call" and SEED_CALL:
            path, follow = f"/calls/{SEED_CALL[0]}", None
        page.goto(URL + path)
        if follow:
            page.locator(follow).first.click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.get_by_role("navigation", name="Console")).to_be_visible()
        no_horizontal_scroll(page, 1280)
        if SCREENSHOTS:
            page.screenshot(path=os.path.join(SCREENSHOTS, f"console-{name}.png"), full_page=True)
