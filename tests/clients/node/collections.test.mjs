// jsforce's array forms of create, retrieve, update, upsert and destroy, which use sObject
// Collections (/composite/sobjects): allOrNone rollback, per-record statusCode errors,
// retrieve's POST form with every described field, nulls for deleted records.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "./org.mjs";

const ROLLED_BACK =
  "Record rolled back because not all records were valid and the request was using AllOrNone header";
let conn;

before(async () => {
  conn = await connect();
});

async function count(soql) {
  return (await conn.query(soql)).totalSize;
}

test("create many, retrieve many, update many, destroy many", async () => {
  const Account = conn.sobject("Account");
  const created = await Account.create(
    [{ Name: "Coll JS 1" }, { Name: "Coll JS 2" }, { Name: "Coll JS 3" }],
    { allOrNone: true },
  );
  assert.equal(created.length, 3);
  for (const r of created) {
    assert.equal(r.success, true);
    assert.deepEqual(r.errors, []);
    assert.ok(r.id.startsWith("001"));
  }
  const ids = created.map((r) => r.id);

  const got = await Account.retrieve(ids);
  assert.deepEqual(
    got.map((a) => a.Name),
    ["Coll JS 1", "Coll JS 2", "Coll JS 3"],
  );
  assert.equal(got[0].Id, ids[0]);
  assert.equal(got[0].attributes.type, "Account");
  assert.ok("BillingCity" in got[0], "every described field is asked for");

  const updated = await Account.update(ids.map((Id, i) => ({ Id, Industry: `Industry ${i}` })));
  assert.deepEqual(
    updated.map((r) => [r.id, r.success]),
    ids.map((id) => [id, true]),
  );
  const some = await Account.retrieve(ids, { fields: ["Industry"] });
  assert.deepEqual(
    some.map((a) => a.Industry),
    ["Industry 0", "Industry 1", "Industry 2"],
  );

  const destroyed = await Account.destroy(ids.slice(0, 2));
  assert.deepEqual(
    destroyed.map((r) => r.success),
    [true, true],
  );
  const after = await Account.retrieve(ids);
  assert.equal(after[0], null);
  assert.equal(after[1], null);
  assert.equal(after[2].Name, "Coll JS 3");
});

test("allOrNone: one bad record rolls back the others", async () => {
  const results = await conn
    .sobject("Contact")
    .create([{ LastName: "Aon JS 1" }, { FirstName: "NoLast" }, { LastName: "Aon JS 3" }], {
      allOrNone: true,
    });
  assert.equal(results[1].success, false);
  assert.equal(results[1].errors[0].statusCode, "REQUIRED_FIELD_MISSING");
  assert.deepEqual(results[1].errors[0].fields, ["LastName"]);
  for (const r of [results[0], results[2]]) {
    assert.equal(r.success, false);
    assert.deepEqual(r.errors, [
      { statusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", message: ROLLED_BACK, fields: [] },
    ]);
  }
  assert.equal(await count("SELECT Id FROM Contact WHERE LastName LIKE 'Aon JS%'"), 0);
});

test("without allOrNone the good records are saved", async () => {
  const results = await conn
    .sobject("Contact")
    .create([{ LastName: "Part JS 1" }, { LastName: "Part JS 2", Bogus__c: 1 }]);
  assert.equal(results[0].success, true);
  assert.equal(results[1].success, false);
  assert.equal(results[1].errors[0].statusCode, "INVALID_FIELD");
  assert.equal(await count("SELECT Id FROM Contact WHERE LastName LIKE 'Part JS%'"), 1);
});

test("upsert many by External ID reports created per record", async () => {
  const results = await conn.sobject("Contact").upsert(
    [
      { External_Id__c: "CON-SARAH", Title: "Chief Operating Officer" },
      { External_Id__c: "CON-JS-MANY", LastName: "Many" },
    ],
    "External_Id__c",
  );
  assert.deepEqual(
    results.map((r) => [r.success, r.created]),
    [
      [true, false],
      [true, true],
    ],
  );
  const sarah = await conn.sobject("Contact").findOne({ External_Id__c: "CON-SARAH" }, ["Id", "Title"]);
  assert.equal(sarah.Title, "Chief Operating Officer");
  assert.equal(results[0].id, sarah.Id);
});

test("allOrNone upsert: rolled-back entries are failures", async () => {
  const results = await conn.sobject("Contact").upsert(
    [
      { External_Id__c: "CON-JS-AON-1", LastName: "Aon Upsert" },
      { External_Id__c: "CON-JS-AON-2", FirstName: "NoLast" },
    ],
    "External_Id__c",
    { allOrNone: true },
  );
  assert.equal(results[0].success, false);
  assert.equal(results[0].errors[0].statusCode, "ALL_OR_NONE_OPERATION_ROLLED_BACK");
  assert.equal(results[1].success, false);
  assert.equal(results[1].errors[0].statusCode, "REQUIRED_FIELD_MISSING");
  assert.equal(await count("SELECT Id FROM Contact WHERE External_Id__c LIKE 'CON-JS-AON%'"), 0);
});

test("destroy many with a malformed id", async () => {
  const [ok] = await conn.sobject("Contact").create([{ LastName: "Doomed JS" }]);
  const results = await conn.sobject("Contact").destroy([ok.id, "001RM000003oLrB000"]);
  assert.deepEqual(results[0], { id: ok.id, success: true, errors: [] });
  assert.equal(results[1].success, false);
  assert.equal(results[1].errors[0].statusCode, "MALFORMED_ID");
  assert.equal(results[1].errors[0].message, "malformed id 001RM000003oLrB000");
});
