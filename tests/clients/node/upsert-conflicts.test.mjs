// jsforce on an org whose schema has a non-unique External ID (Contact.Legacy_Code__c): an
// upsert matching two records is a 300, which jsforce reports as MULTIPLE_CHOICES with the
// matching record URLs in err.data.
// Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, rejection } from "./org.mjs";

test("upsert matching two records is MULTIPLE_CHOICES and changes nothing", async () => {
  const conn = await connect();
  const created = await conn.sobject("Contact").create([
    { LastName: "Dup A", Legacy_Code__c: "DUP-JS" },
    { LastName: "Dup B", Legacy_Code__c: "DUP-JS" },
  ]);
  const urls = created.map((r) => `/services/data/v59.0/sobjects/Contact/${r.id}`).sort();
  const err = await rejection(
    conn.sobject("Contact").upsert({ Legacy_Code__c: "DUP-JS", LastName: "Changed" }, "Legacy_Code__c"),
  );
  assert.equal(err.name, "MULTIPLE_CHOICES");
  assert.deepEqual([...err.data].sort(), urls);
  const names = (await conn.query("SELECT LastName FROM Contact ORDER BY LastName")).records.map(
    (r) => r.LastName,
  );
  assert.deepEqual(names, ["Dup A", "Dup B"]);
});
