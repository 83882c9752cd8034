//! Synthetic records for load tests: `--synthetic-contacts N` fills the org with N Contacts.
//!
//! Each generated Contact is deterministic (the same N gives the same records): a first and last
//! name, an email, a phone in E.164 (`+1555` then seven digits, unique per record), a title and a
//! unique `External_Id__c` (`SYN-<n>`) when the schema has that field. Records go through the same
//! validation and indexes as API creates, in transactions of 10,000.

use serde_json::{Map, Value as J};

use crate::store::Store;
use crate::{Error, Result};

const FIRST: [&str; 16] = [
    "Ava", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jack", "Kira",
    "Liam", "Maya", "Noah", "Olivia", "Peter",
];
const LAST: [&str; 16] = [
    "Anderson", "Brown", "Clark", "Davis", "Evans", "Foster", "Garcia", "Hughes", "Ito", "Jones",
    "King", "Lopez", "Miller", "Nguyen", "Ortiz", "Patel",
];
const TITLE: [&str; 4] = [
    "Operations Manager",
    "IT Director",
    "Office Manager",
    "Buyer",
];

/// The phone number of synthetic Contact `n`: `+1555` and seven digits.
pub fn phone(n: u64) -> String {
    format!("+1555{:07}", n % 10_000_000)
}

/// The External ID of synthetic Contact `n`.
pub fn external_id(n: u64) -> String {
    format!("SYN-{n}")
}

/// Adds `count` synthetic Contacts to the store.
///
/// # Errors
/// [`Error::Data`] when a record is refused or the journal cannot be written.
pub fn add_contacts(store: &Store, count: u64) -> Result<()> {
    let invalid = |m: String| Error::Data(std::io::Error::other(m));
    let mut n = 0;
    while n < count {
        let mut txn = store.write();
        let table = txn
            .data()
            .table_index("Contact")
            .ok_or_else(|| invalid("the schema has no Contact".into()))?;
        let ext = txn
            .data()
            .table_at(table)
            .and_then(|t| t.def().field_index("External_Id__c"))
            .is_some();
        let end = (n + 10_000).min(count);
        for i in n..end {
            let first = FIRST[(i % 16) as usize];
            let last = LAST[((i / 16) % 16) as usize];
            let mut rec = Map::new();
            rec.insert("FirstName".into(), J::from(first));
            rec.insert("LastName".into(), J::from(format!("{last} {i}")));
            rec.insert(
                "Email".into(),
                J::from(format!(
                    "{}.{}{i}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
            );
            rec.insert("Phone".into(), J::from(phone(i)));
            rec.insert("Title".into(), J::from(TITLE[(i % 4) as usize]));
            if ext {
                rec.insert("External_Id__c".into(), J::from(external_id(i)));
            }
            txn.create(table, &rec)
                .map_err(|e| invalid(format!("synthetic contact {i}: {}", e.code())))?;
        }
        txn.commit()?;
        n = end;
    }
    Ok(())
}
