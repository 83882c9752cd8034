// jsforce sending the composite family with conn.requestPost: /composite with references and
// all-or-none rollback, /composite/batch, /composite/tree (a 400 tree answer is not an error
// array, so jsforce reports ERROR_HTTP_400 with the body as the message).
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, rejection } from "./org.mjs";

const V = "/services/data/v59.0";
const HALTED = "The transaction was rolled back since another operation in the same transaction failed.";
let conn;

before(async () => {
  conn = await connect();
});

async function composite(allOrNone, compositeRequest) {
  const body = await conn.requestPost(`${V}/composite`, { allOrNone, compositeRequest });
  return Object.fromEntries(body.compositeResponse.map((r) => [r.referenceId, r]));
}

async function count(soql) {
  return (await conn.query(soql)).totalSize;
}

test("composite: an account, its contact by reference, then a query of both", async () => {
  const out = await composite(true, [
    { method: "POST", url: `${V}/sobjects/Account`, referenceId: "newAccount", body: { Name: "Composite JS" } },
    {
      method: "POST",
      url: `${V}/sobjects/Contact`,
      referenceId: "newContact",
      body: { LastName: "Composite", AccountId: "@{newAccount.id}" },
    },
    {
      method: "GET",
      url: `${V}/query?q=SELECT+Id,Account.Name+FROM+Contact+WHERE+AccountId='@{newAccount.id}'`,
      referenceId: "readBack",
    },
    {
      method: "PATCH",
      url: `${V}/sobjects/Contact/@{readBack.records[0].Id}`,
      referenceId: "touch",
      body: { Title: "Referenced" },
    },
  ]);
  assert.equal(out.newAccount.httpStatusCode, 201);
  const accountId = out.newAccount.body.id;
  assert.equal(out.newAccount.httpHeaders.Location, `${V}/sobjects/Account/${accountId}`);
  assert.equal(out.newContact.httpStatusCode, 201);
  assert.equal(out.readBack.httpStatusCode, 200);
  assert.equal(out.readBack.body.totalSize, 1);
  assert.equal(out.readBack.body.records[0].Account.Name, "Composite JS");
  assert.equal(out.touch.httpStatusCode, 204);
  assert.equal(out.touch.body, null);
  const contact = await conn.sobject("Contact").retrieve(out.newContact.body.id);
  assert.equal(contact.Title, "Referenced");
  assert.equal(contact.AccountId, accountId);
});

test("composite allOrNone: a failure rolls back the subrequests before and after it", async () => {
  const out = await composite(true, [
    { method: "POST", url: `${V}/sobjects/Account`, referenceId: "first", body: { Name: "Rollback JS" } },
    { method: "PATCH", url: `${V}/sobjects/Account/@{first.id}`, referenceId: "bad", body: { XName: "x" } },
    { method: "POST", url: `${V}/sobjects/Contact`, referenceId: "after", body: { LastName: "Rollback JS" } },
  ]);
  assert.equal(out.bad.httpStatusCode, 400);
  assert.equal(out.bad.body[0].errorCode, "INVALID_FIELD");
  for (const ref of ["first", "after"]) {
    assert.equal(out[ref].httpStatusCode, 400);
    assert.deepEqual(out[ref].body, [{ errorCode: "PROCESSING_HALTED", message: HALTED }]);
  }
  assert.equal(await count("SELECT Id FROM Account WHERE Name = 'Rollback JS'"), 0);
  assert.equal(await count("SELECT Id FROM Contact WHERE LastName = 'Rollback JS'"), 0);
});

test("composite without allOrNone: a dependent subrequest stops, others commit", async () => {
  const out = await composite(false, [
    { method: "POST", url: `${V}/sobjects/Contact`, referenceId: "bad", body: { FirstName: "x" } },
    { method: "POST", url: `${V}/sobjects/Case`, referenceId: "dep", body: { Subject: "Dep JS", ContactId: "@{bad.id}" } },
    { method: "POST", url: `${V}/sobjects/Case`, referenceId: "free", body: { Subject: "Free JS" } },
  ]);
  assert.equal(out.bad.body[0].errorCode, "REQUIRED_FIELD_MISSING");
  assert.equal(out.dep.httpStatusCode, 400);
  assert.equal(out.dep.body[0].errorCode, "PROCESSING_HALTED");
  assert.match(out.dep.body[0].message, /^Invalid reference specified\. No value for bad\.id found in bad\./);
  assert.equal(out.free.httpStatusCode, 201);
  assert.equal(await count("SELECT Id FROM Case WHERE Subject = 'Free JS'"), 1);
  assert.equal(await count("SELECT Id FROM Case WHERE Subject = 'Dep JS'"), 0);
});

test("composite refuses a malformed envelope", async () => {
  const err = await rejection(
    conn.requestPost(`${V}/composite`, {
      compositeRequest: [{ method: "GET", url: `${V}/limits`, referenceId: "bad-ref!" }],
    }),
  );
  assert.match(err.errorCode, /^[A-Z_]+$/);
  assert.ok(!err.errorCode.startsWith("ERROR_HTTP_"), err.errorCode);
  assert.match(err.message, /bad-ref!/);
});

test("batch: independent subrequests, haltOnError", async () => {
  const [acc] = await conn.sobject("Account").create([{ Name: "Batch JS" }]);
  const body = await conn.requestPost(`${V}/composite/batch`, {
    batchRequests: [
      { method: "PATCH", url: `v59.0/sobjects/Account/${acc.id}`, richInput: { Name: "Batch JS 2" } },
      { method: "GET", url: `v59.0/sobjects/Account/${acc.id}?fields=Name` },
    ],
  });
  assert.equal(body.hasErrors, false);
  assert.deepEqual(body.results[0], { statusCode: 204, result: null });
  assert.equal(body.results[1].statusCode, 200);
  assert.equal(body.results[1].result.Name, "Batch JS 2");

  const halted = await conn.requestPost(`${V}/composite/batch`, {
    haltOnError: true,
    batchRequests: [
      { method: "GET", url: "v59.0/sobjects/Whizbang/001000000000000AAA" },
      { method: "GET", url: `v59.0/sobjects/Account/${acc.id}` },
    ],
  });
  assert.equal(halted.hasErrors, true);
  assert.equal(halted.results[0].statusCode, 404);
  assert.equal(halted.results[1].statusCode, 412);
  assert.equal(halted.results[1].result[0].errorCode, "BATCH_PROCESSING_HALTED");
});

test("tree: nested records, and a failing tree creates nothing", async () => {
  const body = await conn.requestPost(`${V}/composite/tree/Account`, {
    records: [
      {
        attributes: { type: "Account", referenceId: "acc1" },
        Name: "Tree JS",
        Contacts: { records: [{ attributes: { type: "Contact", referenceId: "c1" }, LastName: "Tree Leaf" }] },
      },
      { attributes: { type: "Account", referenceId: "acc2" }, Name: "Tree JS 2" },
    ],
  });
  assert.equal(body.hasErrors, false);
  assert.deepEqual(
    body.results.map((r) => r.referenceId),
    ["acc1", "acc2", "c1"],
    "roots first, then the next level",
  );
  const leaf = await conn.sobject("Contact").retrieve(body.results[2].id);
  assert.equal(leaf.AccountId, body.results[0].id);

  const err = await rejection(
    conn.requestPost(`${V}/composite/tree/Account`, {
      records: [
        {
          attributes: { type: "Account", referenceId: "ok" },
          Name: "Tree JS Bad",
          Contacts: { records: [{ attributes: { type: "Contact", referenceId: "broken" }, FirstName: "x" }] },
        },
      ],
    }),
  );
  assert.equal(err.errorCode, "ERROR_HTTP_400");
  const answer = JSON.parse(err.message);
  assert.equal(answer.hasErrors, true);
  assert.equal(answer.results[0].referenceId, "broken");
  assert.equal(answer.results[0].errors[0].statusCode, "REQUIRED_FIELD_MISSING");
  assert.equal(await count("SELECT Id FROM Account WHERE Name = 'Tree JS Bad'"), 0);
});
