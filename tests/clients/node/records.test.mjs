// jsforce record calls against the dev org: create, retrieve, update (204 → synthesized result),
// destroy, upsert by External ID (created true/false), describe, describeGlobal, find() with
// limit and sort, and the errors (errorCode) a client sees.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, rejection } from "./org.mjs";

const ID18 = /^[A-Za-z0-9]{18}$/;
let conn;

before(async () => {
  conn = await connect();
});

test("create, retrieve, update, destroy a contact", async () => {
  const Contact = conn.sobject("Contact");
  const created = await Contact.create({ FirstName: "Jo", LastName: "Node", Phone: "(555) 010-0002" });
  assert.equal(created.success, true);
  assert.deepEqual(created.errors, []);
  assert.match(created.id, ID18);
  assert.ok(created.id.startsWith("003"));

  const got = await Contact.retrieve(created.id);
  assert.equal(got.Id, created.id);
  assert.equal(got.Name, "Jo Node");
  assert.equal(got.Email, null);
  assert.deepEqual(got.attributes, {
    type: "Contact",
    url: `/services/data/v59.0/sobjects/Contact/${created.id}`,
  });

  const updated = await Contact.update({ Id: created.id, Email: "jo@node.example" });
  assert.deepEqual(updated, { id: created.id, success: true, errors: [] });
  assert.equal((await Contact.retrieve(created.id)).Email, "jo@node.example");

  const fields = await Contact.retrieve(created.id, { fields: ["LastName", "Email"] });
  assert.deepEqual(Object.keys(fields).sort(), ["Email", "Id", "LastName", "attributes"]);

  const destroyed = await Contact.destroy(created.id);
  assert.deepEqual(destroyed, { id: created.id, success: true, errors: [] });
  const gone = await rejection(Contact.retrieve(created.id));
  assert.equal(gone.errorCode, "NOT_FOUND");
  const again = await rejection(Contact.destroy(created.id));
  assert.equal(again.errorCode, "ENTITY_IS_DELETED");
});

test("upsert by External ID creates, then updates the same record", async () => {
  const Contact = conn.sobject("Contact");
  const first = await Contact.upsert({ External_Id__c: "CON-JS-1", LastName: "Upsert" }, "External_Id__c");
  assert.equal(first.success, true);
  assert.equal(first.created, true);
  assert.match(first.id, ID18);

  const second = await Contact.upsert({ External_Id__c: "CON-JS-1", LastName: "Upsert Again" }, "External_Id__c");
  assert.equal(second.created, false);
  assert.equal(second.id, first.id);
  const got = await Contact.retrieve(first.id);
  assert.equal(got.LastName, "Upsert Again");
  assert.equal(got.External_Id__c, "CON-JS-1");
});

test("upsert on a field that is not an External ID is NOT_FOUND", async () => {
  const err = await rejection(conn.sobject("Contact").upsert({ Nope__c: "X", LastName: "X" }, "Nope__c"));
  assert.equal(err.errorCode, "NOT_FOUND");
  assert.equal(err.message, "Provided external ID field does not exist or is not accessible: Nope__c");
});

test("errors carry Salesforce's errorCode, message and fields", async () => {
  const missing = await rejection(conn.sobject("Contact").create({ FirstName: "NoLast" }));
  assert.equal(missing.errorCode, "REQUIRED_FIELD_MISSING");
  assert.equal(missing.name, "REQUIRED_FIELD_MISSING");
  assert.equal(missing.message, "Required fields are missing: [LastName]");
  assert.deepEqual(missing.data.fields, ["LastName"]);

  const column = await rejection(conn.sobject("Contact").create({ LastName: "X", Bogus__c: 1 }));
  assert.equal(column.errorCode, "INVALID_FIELD");
  assert.equal(column.message, "No such column 'Bogus__c' on sobject of type Contact");

  const type = await rejection(conn.sobject("Whizbang").create({ Name: "X" }));
  assert.equal(type.errorCode, "NOT_FOUND");
  assert.equal(type.message, "The requested resource does not exist");

  const picklist = await rejection(
    conn.sobject("Opportunity").create({
      Name: "Bad forecast",
      StageName: "Prospecting",
      CloseDate: "2030-01-31",
      ForecastCategoryName: "Maybe",
    }),
  );
  assert.equal(picklist.errorCode, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
  assert.deepEqual(picklist.data.fields, ["ForecastCategoryName"]);
});

test("describe of Account and Contact", async () => {
  const account = await conn.sobject("Account").describe();
  assert.equal(account.name, "Account");
  assert.equal(account.keyPrefix, "001");
  const contacts = account.childRelationships.find((r) => r.relationshipName === "Contacts");
  assert.equal(contacts.childSObject, "Contact");
  assert.equal(contacts.field, "AccountId");

  const contact = await conn.describe("Contact");
  const fields = Object.fromEntries(contact.fields.map((f) => [f.name, f]));
  assert.equal(fields.LastName.nillable, false);
  assert.equal(fields.External_Id__c.externalId, true);
  assert.deepEqual(fields.AccountId.referenceTo, ["Account"]);
  assert.equal(fields.AccountId.relationshipName, "Account");

  const err = await rejection(conn.describe("Whizbang"));
  assert.equal(err.errorCode, "NOT_FOUND");
});

test("describeGlobal lists standard and custom objects", async () => {
  const global = await conn.describeGlobal();
  assert.equal(global.maxBatchSize, 200);
  const byName = Object.fromEntries(global.sobjects.map((o) => [o.name, o]));
  assert.equal(byName.Contact.keyPrefix, "003");
  assert.equal(byName.Opportunity.keyPrefix, "006");
  assert.equal(byName.Call_Recording__c.custom, true);
  assert.equal(byName.Account.urls.describe, "/services/data/v59.0/sobjects/Account/describe");
});

test("find() with conditions, a parent field, sort and limit", async () => {
  const top = await conn
    .sobject("Opportunity")
    .find({ StageName: "Closed Won" }, ["Name", "Amount", "Account.Name"])
    .sort({ Amount: -1 })
    .limit(1);
  assert.equal(top.length, 1);
  assert.equal(top[0].Name, "Meridian - Premium Support");
  assert.equal(top[0].Amount, 24000);
  assert.equal(top[0].Account.Name, "Meridian Health Partners");

  const sarahs = await conn
    .sobject("Contact")
    .find({ FirstName: "Sarah", LastName: "Johnson" }, "Id, Phone, Account.Name")
    .sort("Account.Name");
  assert.deepEqual(
    sarahs.map((c) => c.Account.Name),
    ["Acme Corporation", "Johnson & Associates"],
  );
  assert.equal(sarahs[0].Phone, "(555) 123-4567");

  const one = await conn.sobject("Contact").findOne({ Phone: "(555) 123-4567" }, ["Id", "Name"]);
  assert.equal(one.Name, "Sarah Johnson");
  const count = await conn.sobject("Opportunity").count({ StageName: "Closed Won" });
  assert.equal(count, 2);
});

test("API usage header and limits agree", async () => {
  await conn.sobject("Contact").create({ LastName: "Counted" });
  const used = conn.limitInfo.apiUsage.used;
  const limits = await conn.limits();
  assert.equal(limits.DailyApiRequests.Max - limits.DailyApiRequests.Remaining, used + 1);
  assert.equal(conn.limitInfo.apiUsage.used, used + 1);
});
