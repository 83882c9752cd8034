//! Describe results (global and per object), typed for what callers read, and the per-connection
//! cache with a TTL and explicit invalidation (a describe stays *held*, fresh or not, for callers
//! that must not wait on the org).
//!
//! Only the keys callforce uses are typed; a describe carries many more, which are ignored.
//! The cache is keyed by the object name in lower case (Salesforce names are case-insensitive).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// `GET /sobjects`: the org's objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeGlobal {
    /// The character encoding (`UTF-8`).
    #[serde(default)]
    pub encoding: String,
    /// The most records a collections call takes (200).
    #[serde(default)]
    pub max_batch_size: u32,
    /// One entry per object.
    pub sobjects: Vec<SObjectSummary>,
}

/// One object in the global describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectSummary {
    /// The API name (`Account`).
    pub name: String,
    /// The label.
    #[serde(default)]
    pub label: String,
    /// The id key prefix (`001`), when the object has ids.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Whether it is a custom object.
    #[serde(default)]
    pub custom: bool,
    /// Whether records can be created.
    #[serde(default)]
    pub createable: bool,
    /// Whether records can be updated.
    #[serde(default)]
    pub updateable: bool,
    /// Whether records can be deleted.
    #[serde(default)]
    pub deletable: bool,
    /// Whether it can be queried.
    #[serde(default)]
    pub queryable: bool,
    /// Whether it can be searched.
    #[serde(default)]
    pub searchable: bool,
}

/// `GET /sobjects/<Type>/describe`: one object's fields and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectDescribe {
    /// The API name.
    pub name: String,
    /// The label.
    #[serde(default)]
    pub label: String,
    /// The id key prefix.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Whether records can be created.
    #[serde(default)]
    pub createable: bool,
    /// Whether records can be updated.
    #[serde(default)]
    pub updateable: bool,
    /// Whether records can be deleted.
    #[serde(default)]
    pub deletable: bool,
    /// The fields.
    pub fields: Vec<FieldDescribe>,
    /// Child relationships (`Contacts` on Account...).
    #[serde(default)]
    pub child_relationships: Vec<ChildRelationship>,
    /// Record types (the master one included, `master: true`).
    #[serde(default)]
    pub record_type_infos: Vec<RecordTypeInfo>,
}

/// One record type of a describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordTypeInfo {
    /// The id (`012...`; the master's is `012000000000000AAA`).
    pub record_type_id: String,
    /// The label.
    #[serde(default)]
    pub name: String,
    /// The API name.
    #[serde(default)]
    pub developer_name: String,
    /// Whether it is the master record type.
    #[serde(default)]
    pub master: bool,
    /// Whether it is active.
    #[serde(default)]
    pub active: bool,
    /// Whether the connected user may use it.
    #[serde(default)]
    pub available: bool,
    /// Whether it is the user's default for new records.
    #[serde(default)]
    pub default_record_type_mapping: bool,
}

impl SObjectDescribe {
    /// The record type whose API name, label or id is `name` (case-insensitive), master
    /// excluded.
    pub fn record_type(&self, name: &str) -> Option<&RecordTypeInfo> {
        self.record_type_infos.iter().find(|r| {
            !r.master
                && (r.developer_name.eq_ignore_ascii_case(name)
                    || r.name.eq_ignore_ascii_case(name)
                    || r.record_type_id == name
                    || (name.len() == 15 && r.record_type_id.starts_with(name)))
        })
    }
}

/// `GET /ui-api/object-info/{object}/picklist-values/{recordTypeId}`: every picklist's values
/// under one record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordTypePicklists {
    /// Field API name to its values.
    pub picklist_field_values: std::collections::BTreeMap<String, UiPicklist>,
}

/// One field's values in [`RecordTypePicklists`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiPicklist {
    /// The values, in order.
    #[serde(default)]
    pub values: Vec<UiPicklistValue>,
}

/// One value of a [`UiPicklist`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiPicklistValue {
    /// The API value.
    pub value: String,
    /// The label.
    #[serde(default)]
    pub label: String,
}

impl SObjectDescribe {
    /// The field named `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Fields a create must set: not nillable, createable, not defaulted on create.
    pub fn required_on_create(&self) -> impl Iterator<Item = &FieldDescribe> {
        self.fields.iter().filter(|f| {
            !f.nillable && f.createable && !f.defaulted_on_create && f.type_ != "boolean"
        })
    }
}

/// One field of a describe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    /// The API name.
    pub name: String,
    /// The label.
    #[serde(default)]
    pub label: String,
    /// The type (`string`, `picklist`, `reference`, `date`...).
    #[serde(rename = "type")]
    pub type_: String,
    /// The maximum length of text values.
    #[serde(default)]
    pub length: u32,
    /// Whether it may be empty.
    #[serde(default)]
    pub nillable: bool,
    /// Whether it can be set on create.
    #[serde(default)]
    pub createable: bool,
    /// Whether it can be updated.
    #[serde(default)]
    pub updateable: bool,
    /// Whether the org fills it on create.
    #[serde(default)]
    pub defaulted_on_create: bool,
    /// Whether it is an External ID (usable for upserts).
    #[serde(default)]
    pub external_id: bool,
    /// Whether it is unique.
    #[serde(default)]
    pub unique: bool,
    /// Whether it can be used in a `WHERE` clause (long text areas, for one, cannot).
    #[serde(default)]
    pub filterable: bool,
    /// Whether a picklist refuses values outside its list.
    #[serde(default)]
    pub restricted_picklist: bool,
    /// Picklist values.
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
    /// Objects a reference field points to.
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// The relationship name of a reference (`Account` for `AccountId`).
    #[serde(default)]
    pub relationship_name: Option<String>,
}

/// One picklist entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// The API value.
    pub value: String,
    /// The label.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether it is active.
    #[serde(default)]
    pub active: bool,
    /// Whether it is the default.
    #[serde(default)]
    pub default_value: bool,
}

/// One child relationship of a describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildRelationship {
    /// The child object.
    pub child_s_object: String,
    /// The child's field pointing here.
    pub field: String,
    /// The relationship name used in subqueries, when it has one.
    #[serde(default)]
    pub relationship_name: Option<String>,
}

/// The answer of [`crate::Connection::describe_if_modified`].
#[derive(Debug, Clone)]
pub enum Described {
    /// `304 Not Modified`: the describe is the one held.
    NotModified,
    /// The describe changed (or no date was given).
    Modified {
        /// The new describe.
        describe: Arc<SObjectDescribe>,
        /// Its `Last-Modified`, to send as `If-Modified-Since` next time (absent when the org
        /// sent none).
        last_modified: Option<String>,
    },
}

/// One held describe: when it was fetched (`None`: seeded), and the describe.
type Held = (Option<Instant>, Arc<SObjectDescribe>);

/// Cached describes of one connection.
///
/// An object's describe is fresh for the TTL after it was fetched: [`DescribeCache::get`] serves
/// only fresh ones. Past the TTL it is still *held* ([`DescribeCache::held`]) until a newer one
/// replaces it or it is invalidated: what a caller that must not wait on the org (a
/// non-blocking write) checks against. A describe handed in from elsewhere (the service's
/// store, [`DescribeCache::seed`]) is held but never fresh, so a caller that may ask the org
/// still fetches the current one.
#[derive(Debug)]
pub struct DescribeCache {
    ttl: Duration,
    /// By object name in lower case.
    objects: Mutex<HashMap<String, Held>>,
    global: Mutex<Option<(Instant, Arc<DescribeGlobal>)>>,
}

impl DescribeCache {
    /// An empty cache whose entries last `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            objects: Mutex::new(HashMap::new()),
            global: Mutex::new(None),
        }
    }

    /// The cached describe of `sobject`, if still fresh.
    pub fn get(&self, sobject: &str) -> Option<Arc<SObjectDescribe>> {
        match self.objects.lock().get(&sobject.to_ascii_lowercase()) {
            Some((Some(at), d)) if at.elapsed() < self.ttl => Some(d.clone()),
            _ => None,
        }
    }

    /// The describe of `sobject` held, fresh or not (the latest fetched, else a seeded one).
    pub fn held(&self, sobject: &str) -> Option<Arc<SObjectDescribe>> {
        self.objects
            .lock()
            .get(&sobject.to_ascii_lowercase())
            .map(|(_, d)| d.clone())
    }

    /// Caches a describe just fetched.
    pub fn put(&self, d: Arc<SObjectDescribe>) {
        self.objects
            .lock()
            .insert(d.name.to_ascii_lowercase(), (Some(Instant::now()), d));
    }

    /// Holds a describe fetched earlier (a stored one) unless one is held already: served by
    /// [`DescribeCache::held`], never by [`DescribeCache::get`].
    pub fn seed(&self, d: Arc<SObjectDescribe>) {
        self.objects
            .lock()
            .entry(d.name.to_ascii_lowercase())
            .or_insert((None, d));
    }

    /// The cached global describe, if still fresh.
    pub fn global(&self) -> Option<Arc<DescribeGlobal>> {
        match &*self.global.lock() {
            Some((at, d)) if at.elapsed() < self.ttl => Some(d.clone()),
            _ => None,
        }
    }

    /// Caches the global describe.
    pub fn put_global(&self, d: Arc<DescribeGlobal>) {
        *self.global.lock() = Some((Instant::now(), d));
    }

    /// Makes one object's describe (`Some`) or every describe and the global one (`None`) no
    /// longer fresh: the next [`DescribeCache::get`] misses, so a caller that may ask the org
    /// fetches the current one. An object's describe stays held until a newer one replaces it
    /// (what a caller that must not wait on the org has, however old).
    pub fn invalidate(&self, sobject: Option<&str>) {
        let mut objects = self.objects.lock();
        match sobject {
            Some(s) => {
                if let Some(held) = objects.get_mut(&s.to_ascii_lowercase()) {
                    held.0 = None;
                }
            }
            None => {
                for held in objects.values_mut() {
                    held.0 = None;
                }
                *self.global.lock() = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(name: &str) -> Arc<SObjectDescribe> {
        Arc::new(SObjectDescribe {
            name: name.into(),
            label: name.into(),
            key_prefix: None,
            createable: true,
            updateable: true,
            deletable: true,
            fields: vec![],
            child_relationships: vec![],
            record_type_infos: vec![],
        })
    }

    #[test]
    fn cache_is_case_insensitive_and_invalidates() {
        let c = DescribeCache::new(Duration::from_secs(60));
        c.put(describe("Account"));
        c.put(describe("Contact"));
        assert!(c.get("account").is_some());
        c.invalidate(Some("ACCOUNT"));
        assert!(c.get("Account").is_none());
        assert!(c.get("Contact").is_some());
        c.invalidate(None);
        assert!(c.get("Contact").is_none());
    }

    #[test]
    fn zero_ttl_never_serves() {
        let c = DescribeCache::new(Duration::ZERO);
        c.put(describe("Account"));
        assert!(c.get("Account").is_none());
    }

    #[test]
    fn a_describe_past_its_ttl_or_seeded_is_held_but_not_fresh() {
        let c = DescribeCache::new(Duration::ZERO);
        c.put(describe("Account"));
        assert!(c.get("Account").is_none());
        assert!(c.held("ACCOUNT").is_some(), "held past its TTL");
        let c = DescribeCache::new(Duration::from_secs(60));
        c.seed(describe("Task"));
        assert!(c.get("Task").is_none(), "a seeded describe is never fresh");
        assert!(c.held("task").is_some());
        // A fetched describe is not replaced by a seeded one; a fetch replaces a seeded one.
        c.put(describe("Contact"));
        c.seed(Arc::new(SObjectDescribe {
            label: "stale".into(),
            ..(*describe("Contact")).clone()
        }));
        assert_eq!(
            c.get("Contact").map(|d| d.label.clone()).as_deref(),
            Some("Contact")
        );
        c.put(describe("Task"));
        assert!(c.get("Task").is_some());
        c.invalidate(Some("task"));
        assert!(c.get("Task").is_none(), "invalidated: fetched again");
        assert!(
            c.held("Task").is_some(),
            "still held until a newer one comes"
        );
    }
}
