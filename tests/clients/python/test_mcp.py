"""The official MCP Python SDK driving callforce's MCP server, over streamable HTTP (`/mcp` of a
running `callforce serve`) and over stdio (`callforce mcp`, service embedded).

Environment: CALLFORCE_MCP_URL and CALLFORCE_API_KEY (the running service), CALLFORCE_BIN (the
`callforce` binary) and CALLFORCE_DATA_DIR (a directory for the embedded service)."""

import contextlib
import datetime
import json
import os

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

URL = os.environ.get("CALLFORCE_MCP_URL", "")
KEY = os.environ.get("CALLFORCE_API_KEY", "")


@contextlib.asynccontextmanager
async def http_session(key=KEY, headers=None, query=""):
    h = {"Authorization": f"Bearer {key}"}
    h.update(headers or {})
    async with create_mcp_http_client(headers=h) as client:
        async with streamable_http_client(URL + query, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                yield session


@contextlib.asynccontextmanager
async def stdio_session(*args):
    params = StdioServerParameters(
        command=os.environ["CALLFORCE_BIN"],
        args=["mcp", "--data-dir", os.environ["CALLFORCE_DATA_DIR"], *args],
        env={"CALLFORCE_LOG": "warn", "PATH": os.environ.get("PATH", "")},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            yield session


def structured(result):
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def the_example_conversation(session):
    init = await session.initialize()
    assert init.server_info.name == "callforce"

    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {"search_contact", "create_case", "log_call"} <= tools.keys()
    search = tools["search_contact"]
    assert search.title == "Search contact"
    assert search.annotations.read_only_hint is True
    assert search.input_schema["type"] == "object"
    assert tools["delete_case"].annotations.destructive_hint is True
    assert tools["create_case"].annotations.read_only_hint is False
    assert tools["create_case"].annotations.idempotent_hint is False

    found = await session.call_tool("search_contact", {"search_term": "+15551234567"})
    assert not found.is_error, found
    contact = structured(found)["records"][0]
    assert contact["LastName"] == "Johnson"

    case = await session.call_tool(
        "create_case",
        {"Subject": "Invoice amount discrepancy", "ContactId": "{{search_contact.Id}}",
         "Priority": "High", "Origin": "Phone"},
    )
    assert not case.is_error, case
    case_id = structured(case)["id"]
    assert case_id.startswith("500")

    logged = await session.call_tool(
        "log_call",
        {"Subject": "Inbound call - invoice discrepancy", "WhoId": "{{search_contact.Id}}",
         "WhatId": "{{create_case.Id}}", "CallType": "Inbound"},
    )
    assert not logged.is_error, logged

    # The callback the caller asked for: tomorrow at 10:00.
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    callback = await session.call_tool(
        "schedule_event",
        {"Subject": "Callback: invoice discrepancy", "WhoId": "{{search_contact.Id}}",
         "StartDateTime": f"{tomorrow}T10:00:00Z", "EndDateTime": f"{tomorrow}T10:30:00Z"},
    )
    assert not callback.is_error, callback
    # Nothing later in the call needs its id: it is queued after its checks, like log_call.
    assert structured(callback)["queued"], callback

    # The case really points at the contact found by the first call.
    read = await session.call_tool(
        "run_query", {"soql": f"SELECT Id, ContactId FROM Case WHERE Id = '{case_id}'"}
    )
    assert structured(read)["records"][0]["ContactId"] == contact["Id"]

    # A delete needs confirmation: a preview and a token the model reads out, then the run.
    preview = await session.call_tool("delete_case", {"record_id": case_id})
    assert not preview.is_error, preview
    token = structured(preview)["confirmation_required"]["token"]
    deleted = await session.call_tool(
        "delete_case", {"record_id": case_id, "confirmation_token": token}
    )
    assert not deleted.is_error, deleted
    replay = await session.call_tool(
        "delete_case", {"record_id": case_id, "confirmation_token": token}
    )
    assert replay.is_error is True

    # A tool that ran and failed: a tool error the model can act on, not a protocol error.
    bad = await session.call_tool(
        "create_case",
        {"Subject": "x", "ContactId": "{{search_contact.Id}}", "Priority": "urgentish"},
    )
    assert bad.is_error is True
    assert "Priority" in bad.content[0].text
    assert structured(bad)["error"]["field"] == "Priority"

    objects = await session.read_resource("callforce://objects/Case")
    fields = {f["name"]: f for f in json.loads(objects.contents[0].text)["fields"]}
    assert "High" in fields["Priority"]["values"]

    # The intent map resource: none configured in this workspace yet, and it says so.
    intents = json.loads((await session.read_resource("callforce://intents")).contents[0].text)
    assert intents["active"] is False and intents["map"] is None, intents

    prompt = await session.get_prompt("example_call", {"caller_phone": "+15551234567"})
    assert "search_contact" in prompt.messages[0].content.text


@pytest.mark.anyio
async def test_streamable_http_runs_the_example_conversation():
    async with http_session(headers={"X-Call-Id": "py-http-1"}) as session:
        await the_example_conversation(session)


@pytest.mark.anyio
async def test_streamable_http_caller_phone_from_request_meta():
    async with http_session() as session:
        await session.initialize()
        meta = {"callforce/call_id": "py-http-meta", "callforce/caller_phone": "+15551234567"}
        found = await session.call_tool("search_contact", {"search_term": "{{caller_phone}}"}, meta=meta)
        assert not found.is_error, found
        assert structured(found)["records"][0]["LastName"] == "Johnson"
        # The same call, by arguments this time: earlier results are there.
        again = await session.call_tool(
            "get_contact", {"record_id": "{{search_contact.Id}}", "call_id": "py-http-meta"}
        )
        assert not again.is_error, again
        assert structured(again)["LastName"] == "Johnson"


@pytest.mark.anyio
async def test_compact_tool_set():
    async with http_session(headers={"X-Call-Id": "py-compact"}, query="?tools=compact") as session:
        await session.initialize()
        names = [t.name for t in (await session.list_tools()).tools]
        assert names == ["search", "query", "write", "action"]
        found = await session.call_tool(
            "action", {"name": "search_contact", "arguments": {"search_term": "+15551234567"}}
        )
        assert structured(found)["records"][0]["LastName"] == "Johnson"


@pytest.mark.anyio
async def test_a_bad_api_key_is_refused():
    # The SDK gives up at initialize...
    with pytest.raises(BaseException):
        with anyio.fail_after(20):
            async with http_session(key="not-a-key") as session:
                await session.initialize()
    # ...because the service answers 401 with what to do.
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}
    async with create_mcp_http_client(headers={"Authorization": "Bearer not-a-key"}) as client:
        resp = await client.post(URL, json=init, headers={"Accept": "application/json, text/event-stream"})
    assert resp.status_code == 401
    assert "API key" in resp.json()["error"]["message"]


@pytest.mark.anyio
async def test_stdio_runs_the_example_conversation():
    async with stdio_session("--caller-phone", "+15551234567") as session:
        await the_example_conversation(session)


@pytest.fixture
def anyio_backend():
    return "asyncio"
