// jsforce against the dev org: password login, identity, limits and API usage, refresh (by hand
// and automatic, single-flight), 401 after the sessions are expired.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { test } from "node:test";
import assert from "node:assert/strict";
import jsforce from "jsforce";

const url = process.env.CALLFORCE_INSTANCE_URL;
const clientId = process.env.CALLFORCE_CLIENT_ID;
const clientSecret = process.env.CALLFORCE_CLIENT_SECRET;
const username = process.env.CALLFORCE_USERNAME;
const password = process.env.CALLFORCE_PASSWORD;
const redirectUri = "http://127.0.0.1:9/callback";

function passwordConnection() {
  return new jsforce.Connection({
    oauth2: { clientId, clientSecret, loginUrl: url },
    loginUrl: url,
    version: "59.0",
  });
}

async function expireSessions() {
  const resp = await fetch(`${url}/devorg/sessions/expire`, { method: "POST" });
  assert.equal(resp.status, 200);
}

async function stats() {
  return (await fetch(`${url}/devorg/stats`)).json();
}

// The web-server flow by hand: submit the login form, read the code off the redirect.
async function authorizationCode() {
  const form = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state: "node",
    username,
    password,
    action: "allow",
  });
  const resp = await fetch(`${url}/services/oauth2/authorize`, {
    method: "POST",
    body: form,
    redirect: "manual",
  });
  assert.equal(resp.status, 302);
  const location = new URL(resp.headers.get("location"));
  assert.equal(location.searchParams.get("state"), "node");
  return location.searchParams.get("code");
}

async function codeConnection() {
  const conn = new jsforce.Connection({
    oauth2: { clientId, clientSecret, redirectUri, loginUrl: url },
    instanceUrl: url,
    version: "59.0",
  });
  await conn.authorize(await authorizationCode());
  assert.ok(conn.refreshToken, "a refresh token comes with the code grant");
  return conn;
}

test("password login, identity, limits and API usage", async () => {
  const conn = passwordConnection();
  const info = await conn.login(username, password);
  assert.match(conn.accessToken, /^00D[A-Za-z0-9]{12}!/);
  assert.equal(conn.instanceUrl, url);
  assert.ok(info.organizationId.startsWith("00D"));
  assert.ok(info.id.startsWith("005"));

  const identity = await conn.identity();
  assert.equal(identity.user_id, info.id);
  assert.equal(identity.organization_id, info.organizationId);
  assert.equal(identity.username, username);

  const limits = await conn.limits();
  assert.ok(limits.DailyApiRequests.Max > 0);
  assert.ok(limits.DataStorageMB.Max > 0 && limits.DataStorageMB.Remaining >= 0);
  assert.ok(limits.FileStorageMB.Max > 0);
  const usage = conn.limitInfo.apiUsage;
  assert.ok(usage.used > 0 && usage.limit >= usage.used);
  assert.equal(usage.limit, limits.DailyApiRequests.Max);
  assert.equal(usage.used, limits.DailyApiRequests.Max - limits.DailyApiRequests.Remaining);
});

test("an expired session is INVALID_SESSION_ID for a bare token", async () => {
  const login = passwordConnection();
  await login.login(username, password);
  const conn = new jsforce.Connection({
    instanceUrl: url,
    accessToken: login.accessToken,
    version: "59.0",
  });
  await conn.limits();
  await expireSessions();
  await assert.rejects(conn.limits(), (err) => {
    assert.equal(err.errorCode, "INVALID_SESSION_ID");
    return true;
  });
});

test("after expiry a password-login connection logs in again", async () => {
  const conn = passwordConnection();
  await conn.login(username, password);
  const token = conn.accessToken;
  await expireSessions();
  const before = (await stats()).logins;
  const limits = await conn.limits();
  assert.ok(limits.DailyApiRequests.Max > 0);
  assert.notEqual(conn.accessToken, token);
  assert.equal((await stats()).logins, before + 1);
});

test("oauth2.refreshToken issues a working access token", async () => {
  const conn = await codeConnection();
  const before = (await stats()).refreshes;
  const res = await conn.oauth2.refreshToken(conn.refreshToken);
  assert.match(res.access_token, /^00D/);
  assert.notEqual(res.access_token, conn.accessToken);
  assert.equal(res.instance_url, url);
  assert.equal((await stats()).refreshes, before + 1);
});

test("after expiry jsforce refreshes once for concurrent requests", async () => {
  const conn = await codeConnection();
  await conn.limits();
  await expireSessions();
  const before = (await stats()).refreshes;
  const results = await Promise.all([conn.limits(), conn.limits(), conn.limits()]);
  for (const limits of results) assert.ok(limits.DailyApiRequests.Max > 0);
  assert.equal((await stats()).refreshes, before + 1);
});
