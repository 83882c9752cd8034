// jsforce queries against the dev org: autoFetch past 2000 rows (record events, maxFetch),
// queryMore, scanAll (queryAll) with deleted rows, relationship fields, child subqueries,
// LIKE with a quote, aggregates, date literals, SOSL and query errors.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import jsforce from "jsforce";
import { connect, rejection } from "./org.mjs";

const PAGED = 2150;
const DELETED = 50;
const PAGED_SOQL = "SELECT Id, LastName FROM Contact WHERE Department = 'Paging' ORDER BY LastName";
let conn;
let live;
let gone;

before(async () => {
  conn = await connect();
  // 2150 contacts through sObject Collections (200 a request), then 50 of them deleted.
  const records = Array.from({ length: PAGED }, (_, i) => ({
    LastName: `Page ${String(i).padStart(5, "0")}`,
    Department: "Paging",
  }));
  const results = await conn
    .sobject("Contact")
    .create(records, { allOrNone: true, allowRecursive: true });
  assert.equal(results.length, PAGED);
  assert.ok(results.every((r) => r.success));
  const ids = results.map((r) => r.id);
  gone = ids.slice(0, DELETED);
  live = ids.slice(DELETED);
  const destroyed = await conn.sobject("Contact").destroy(gone);
  assert.deepEqual(
    destroyed.map((r) => r.success),
    gone.map(() => true),
  );
});

test("autoFetch streams every record past the first 2000", async () => {
  const seen = [];
  const query = conn.query(PAGED_SOQL).on("record", (record) => seen.push(record.Id));
  const result = await query.run({ autoFetch: true, maxFetch: 10000 });
  assert.equal(query.totalSize, live.length);
  assert.equal(seen.length, live.length);
  assert.deepEqual([...seen].sort(), [...live].sort());
  assert.equal(result.done, true);
  assert.equal(result.records.length, live.length);
  assert.equal(result.records[2000].LastName, `Page ${String(DELETED + 2000).padStart(5, "0")}`);
});

test("maxFetch stops autoFetch early", async () => {
  let count = 0;
  const result = await conn
    .query(PAGED_SOQL)
    .on("record", () => (count += 1))
    .run({ autoFetch: true, maxFetch: 2050 });
  assert.equal(count, 2050);
  assert.equal(result.records.length, 2050);
  assert.equal(result.totalSize, live.length);
});

test("without autoFetch the first page has 2000 rows and queryMore reads the rest", async () => {
  const first = await conn.query(PAGED_SOQL);
  assert.equal(first.totalSize, live.length);
  assert.equal(first.done, false);
  assert.equal(first.records.length, 2000);
  // jsforce rebuilds the URL from the locator (the last segment of the org's nextRecordsUrl).
  assert.match(first.nextRecordsUrl, /\/services\/data\/v59\.0\/query\/01g[A-Za-z0-9]{15}-2000$/);
  const rest = await conn.queryMore(first.nextRecordsUrl);
  assert.equal(rest.done, true);
  assert.equal(rest.records.length, live.length - 2000);
  const ids = new Set([...first.records, ...rest.records].map((r) => r.Id));
  assert.equal(ids.size, live.length);
});

test("scanAll reads deleted rows, paging through /query/ locators", async () => {
  const seen = [];
  const result = await conn
    .query("SELECT Id, IsDeleted FROM Contact WHERE Department = 'Paging'")
    .scanAll(true)
    .on("record", (r) => seen.push(r))
    .run({ autoFetch: true, maxFetch: 10000 });
  assert.equal(result.totalSize, PAGED);
  assert.equal(seen.length, PAGED);
  const deleted = seen.filter((r) => r.IsDeleted).map((r) => r.Id);
  assert.deepEqual(deleted.sort(), [...gone].sort());

  const onlyDeleted = await conn.query(
    "SELECT Id FROM Contact WHERE Department = 'Paging' AND IsDeleted = true",
    { scanAll: true },
  );
  assert.equal(onlyDeleted.totalSize, DELETED);
  const live = await conn.query(`SELECT Id FROM Contact WHERE Id = '${gone[0]}'`);
  assert.equal(live.totalSize, 0);
});

test("relationship fields and empty lookups", async () => {
  const res = await conn.query(
    "SELECT Id, Name, Account.Name, Account.Owner.Name FROM Contact WHERE Phone = '(555) 123-4567'",
  );
  assert.equal(res.totalSize, 1);
  const sarah = res.records[0];
  assert.equal(sarah.Name, "Sarah Johnson");
  assert.equal(sarah.Account.Name, "Acme Corporation");
  assert.equal(sarah.Account.attributes.type, "Account");
  assert.equal(typeof sarah.Account.Owner.Name, "string");

  const web = await conn.query("SELECT Id, Account.Name FROM Case WHERE SuppliedName = 'Priya Raman'");
  assert.equal(web.records[0].Account, null);
});

test("child subqueries through include(), null when there are no children", async () => {
  const contacts = await conn
    .sobject("Contact")
    .find({ External_Id__c: ["CON-SARAH", "CON-SARAH_JA"] }, ["Name", "External_Id__c"])
    .sort("External_Id__c")
    .include("Cases")
    .select(["Subject", "Status"])
    .sort("Subject")
    .limit(2)
    .end();
  assert.equal(contacts.length, 2);
  const [acme, partner] = contacts;
  assert.equal(acme.Cases.totalSize, 2, "the child LIMIT applies");
  assert.equal(acme.Cases.records.length, 2);
  const subjects = acme.Cases.records.map((c) => c.Subject);
  assert.deepEqual(subjects, [...subjects].sort());
  assert.equal(partner.Cases, null);
});

test("LIKE with a quote in the term", async () => {
  const found = await conn.sobject("Contact").find({ LastName: { $like: "O'Br%" } }, ["LastName"]);
  assert.deepEqual(
    found.map((c) => c.LastName),
    ["O'Brien"],
  );
  const exact = await conn.query("SELECT Id FROM Contact WHERE LastName = 'O\\'Brien'");
  assert.equal(exact.totalSize, 1);
});

test("aggregates and COUNT()", async () => {
  const res = await conn.query(
    "SELECT StageName, COUNT(Id) n, SUM(Amount) total FROM Opportunity GROUP BY StageName ORDER BY StageName",
  );
  const won = res.records.find((r) => r.StageName === "Closed Won");
  assert.deepEqual(won, { attributes: { type: "AggregateResult" }, StageName: "Closed Won", n: 2, total: 38400 });
  const count = await conn.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Closed Won'");
  assert.equal(count.totalSize, 2);
  assert.deepEqual(count.records, []);
});

test("date literals through SfDate", async () => {
  const past = await conn
    .sobject("Opportunity")
    .find({ CloseDate: { $lt: jsforce.SfDate.TODAY } }, ["Name"])
    .sort("CloseDate");
  assert.deepEqual(
    past.map((o) => o.Name),
    ["Meridian - Premium Support", "Bluebird - Appointment Line", "Brightpath - Admissions Line"],
  );
});

test("SOSL search", async () => {
  const res = await conn.search("FIND {Sarah Johnson} IN NAME FIELDS RETURNING Contact(Id, Name, Account.Name)");
  const names = res.searchRecords.map((r) => r.Account.Name).sort();
  assert.deepEqual(names, ["Acme Corporation", "Johnson & Associates"]);
  assert.ok(res.searchRecords.every((r) => r.attributes.type === "Contact"));

  const phone = await conn.search("FIND {555-123-4567} IN PHONE FIELDS RETURNING Contact(Name)");
  assert.deepEqual(
    phone.searchRecords.map((r) => r.Name),
    ["Sarah Johnson"],
  );

  const err = await rejection(conn.search("FIND Acme"));
  assert.equal(err.errorCode, "MALFORMED_SEARCH");
});

test("query errors", async () => {
  const field = await rejection(conn.query("SELECT Nope__c FROM Contact"));
  assert.equal(field.errorCode, "INVALID_FIELD");
  assert.match(field.message, /No such column 'Nope__c' on entity 'Contact'/);
  const type = await rejection(conn.query("SELECT Id FROM Whizbang"));
  assert.equal(type.errorCode, "INVALID_TYPE");
  const locator = await rejection(conn.queryMore("01g0D0000000009AAA-2000"));
  assert.equal(locator.errorCode, "INVALID_QUERY_LOCATOR");
});
