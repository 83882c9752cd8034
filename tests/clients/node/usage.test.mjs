// The query shapes jsforce's own SObject and query-builder usage produces, against the demo
// data: find() with no fields (expanded through describe), $like/$or/$not/$in/$nin/null
// conditions, INCLUDES/EXCLUDES, multi-key sort strings, skip/limit, select('*, Account.*,
// Owner.Name'), two child includes with their own limits, LAST_N_DAYS and NEXT_N_DAYS.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import jsforce from "jsforce";
import { connect } from "./org.mjs";

let conn;
let Account;
let Opportunity;

before(async () => {
  conn = await connect();
  Account = conn.sobject("Account");
  Opportunity = conn.sobject("Opportunity");
});

function sortedBy(records, key) {
  for (let i = 0; i < records.length - 1; i++) {
    const [a, b] = [key(records[i]), key(records[i + 1])];
    if (a > b) return false;
  }
  return true;
}

test("find() with no fields reads every field of every record", async () => {
  const all = await Account.find();
  const count = await Account.count();
  assert.equal(all.length, count);
  assert.ok(count >= 11);
  const acme = all.find((a) => a.Name === "Acme Corporation");
  assert.equal(acme.Phone, "(555) 100-2000");
  assert.equal(acme.External_Id__c, "ACC-ACME");
  assert.ok("Customer_Tier__c" in acme, "custom fields are part of *");
});

test("$like, $or, $not, $in, $nin and null conditions", async () => {
  const acmes = await Account.find({ Name: { $like: "Acme%" } }, { Name: 1 }).sort("Name");
  assert.deepEqual(
    acmes.map((a) => a.Name),
    ["Acme Corporation", "Acme Corporation - West"],
  );
  assert.equal(await Account.count({ Name: { $like: "Acme%" } }), 2);

  const either = await Account.find(
    { $or: [{ Industry: "Retail" }, { BillingCity: "Denver" }] },
    "Name",
  ).sort("Name");
  assert.deepEqual(
    either.map((a) => a.Name),
    ["Northwind Traders", "Summit Ridge Logistics"],
  );

  const notAcme = await Account.count({ $not: { Name: { $like: "Acme%" } } });
  assert.equal(notAcme, (await Account.count()) - 2);

  const inList = await Opportunity.find({ StageName: { $in: ["Closed Won", "Closed Lost"] } }, "Name");
  assert.equal(inList.length, 3);
  const open = await Opportunity.count({ StageName: { $nin: ["Closed Won", "Closed Lost"] } });
  assert.equal(open, (await Opportunity.count()) - 3);

  const noParent = await Account.find({ ParentId: null, Name: { $like: "Acme%" } }, "Name");
  assert.deepEqual(
    noParent.map((a) => a.Name),
    ["Acme Corporation"],
  );
  const withParent = await Account.find({ ParentId: { $ne: null } }, "Name, Parent.Name");
  assert.ok(withParent.some((a) => a.Name === "Acme Corporation - West" && a.Parent.Name === "Acme Corporation"));
});

test("INCLUDES and EXCLUDES on a multi-select picklist", async () => {
  await Account.create([
    { Name: "Usage JS A", Products_Owned__c: "Voice Agent;Analytics" },
    { Name: "Usage JS B", Products_Owned__c: "Chat Agent" },
    { Name: "Usage JS C", Products_Owned__c: "Analytics;Integrations" },
  ]);
  const analytics = await Account.find(
    { Name: { $like: "Usage JS%" }, Products_Owned__c: { $includes: ["Analytics"] } },
    "Name",
  ).sort("Name");
  assert.deepEqual(
    analytics.map((a) => a.Name),
    ["Usage JS A", "Usage JS C"],
  );
  const withoutVoice = await Account.find(
    { Name: { $like: "Usage JS%" }, Products_Owned__c: { $excludes: ["Voice Agent"] } },
    "Name",
  ).sort("Name");
  assert.deepEqual(
    withoutVoice.map((a) => a.Name),
    ["Usage JS B", "Usage JS C"],
  );
});

test("sort strings with several keys, skip and limit", async () => {
  const byCloseDesc = await Opportunity.find({}, { CloseDate: 1 }).sort("CloseDate", "desc").exec();
  assert.ok(byCloseDesc.length >= 12);
  assert.ok(sortedBy([...byCloseDesc].reverse(), (r) => r.CloseDate));

  const records = await Opportunity.find({}, { "Account.Name": 1, CloseDate: 1 }).sort("Account.Name -CloseDate").exec();
  for (let i = 0; i < records.length - 1; i++) {
    const [a, b] = [records[i], records[i + 1]];
    assert.ok(a.Account.Name <= b.Account.Name);
    if (a.Account.Name === b.Account.Name) assert.ok(a.CloseDate >= b.CloseDate);
  }

  const all = await Opportunity.find({}, "Name").sort({ Amount: -1 });
  const page = await Opportunity.find({}, "Name").sort({ Amount: -1 }).skip(2).limit(3);
  assert.deepEqual(
    page.map((o) => o.Name),
    all.slice(2, 5).map((o) => o.Name),
  );

  const owners = await Opportunity.find({}, { "Owner.Name": 1, CloseDate: 1 })
    .sort({ "Owner.Name": 1, CloseDate: -1 })
    .limit(10)
    .exec();
  assert.equal(owners.length, 10);
  assert.ok(owners.every((o) => typeof o.Owner.Name === "string"));
});

test("select('*, Account.*, Owner.Name') expands through describe", async () => {
  const records = await Opportunity.select("*, Account.*, Owner.Name").where({ StageName: "Closed Won" }).exec();
  assert.equal(records.length, 2);
  for (const r of records) {
    assert.equal(typeof r.Name, "string");
    assert.match(r.CloseDate, /^\d{4}-\d\d-\d\d$/);
    assert.equal(typeof r.Account.Name, "string");
    assert.equal(typeof r.Account.Industry, "string");
    assert.equal(typeof r.Owner.Name, "string");
  }
});

test("two child relationships, each with its own fields and limit", async () => {
  const accounts = await Account.find({ Name: "Acme Corporation" }, "Id")
    .include("Contacts")
    .select("*")
    .sort("LastName")
    .limit(2)
    .end()
    .include("Opportunities", null, "Id, Name", { limit: 2 })
    .end()
    .limit(10)
    .exec();
  assert.equal(accounts.length, 1);
  const [acme] = accounts;
  assert.equal(acme.Name, undefined);
  assert.equal(acme.Contacts.records.length, 2);
  for (const c of acme.Contacts.records) {
    assert.equal(typeof c.FirstName, "string");
    assert.equal(typeof c.LastName, "string");
  }
  assert.ok(acme.Opportunities.records.length >= 1 && acme.Opportunities.records.length <= 2);
  for (const o of acme.Opportunities.records) {
    assert.equal(typeof o.Name, "string");
    assert.equal(o.CloseDate, undefined);
  }
});

test("LAST_N_DAYS and NEXT_N_DAYS date literals", async () => {
  const recentlyClosed = await Opportunity.find({ CloseDate: jsforce.SfDate.LAST_N_DAYS(30) }, "Name").sort("Name");
  assert.deepEqual(
    recentlyClosed.map((o) => o.Name),
    ["Bluebird - Appointment Line", "Brightpath - Admissions Line"],
  );
  const soon = await Opportunity.count({ CloseDate: jsforce.SfDate.NEXT_N_DAYS(30) });
  assert.equal(soon, 2, "the two deals closing in 30 days");
  await Account.create({ Name: "Usage JS Today" });
  const today = { Name: "Usage JS Today" };
  assert.equal(await Account.count({ ...today, CreatedDate: jsforce.SfDate.TODAY }), 1);
  assert.equal(await Account.count({ ...today, CreatedDate: { $lt: jsforce.SfDate.YESTERDAY } }), 0);
});
