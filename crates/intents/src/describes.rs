//! The describes a check or a compiled intent needs, fetched once through the connection's
//! describe cache and held by name.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use callforce_client::describe::{
    DescribeGlobal, FieldDescribe, PicklistValue, RecordTypePicklists, SObjectDescribe,
};
use callforce_client::{Connection, Error as ClientError};

use crate::error::Result;
use crate::map::{Target, Write};

/// The record type the record `w` writes has, as far as the map can know it: its
/// `record_type`, else for a create the connected user's default record type of the object (the
/// one the org gives a record created without `RecordTypeId`). `None` for an update without
/// `record_type` (the record's own, unknown until call time) and for objects without record
/// types.
pub fn write_record_type<'a>(object: &'a SObjectDescribe, w: &'a Write) -> Option<&'a str> {
    if let Some(rt) = &w.record_type {
        return Some(rt);
    }
    if w.record != Target::Create {
        return None;
    }
    object
        .record_type_infos
        .iter()
        .find(|r| !r.master && r.default_record_type_mapping)
        .map(|r| r.developer_name.as_str())
}

/// Describes of the objects a map touches, the global describe, and the objects the org does
/// not have.
#[derive(Debug, Clone, Default)]
pub struct Describes {
    objects: HashMap<String, Arc<SObjectDescribe>>,
    missing: HashSet<String>,
    global: Option<Arc<DescribeGlobal>>,
    /// Picklist values per record type: (lowercase object, record type id) to the values.
    record_types: HashMap<(String, String), Arc<RecordTypePicklists>>,
}

impl Describes {
    /// Describes built from values already at hand (tests, benchmarks, a stored snapshot).
    pub fn from_parts(
        objects: impl IntoIterator<Item = Arc<SObjectDescribe>>,
        global: Option<Arc<DescribeGlobal>>,
    ) -> Self {
        Self {
            objects: objects
                .into_iter()
                .map(|d| (d.name.to_ascii_lowercase(), d))
                .collect(),
            missing: HashSet::new(),
            global,
            record_types: HashMap::new(),
        }
    }

    /// Adds the picklist values of a record type (tests, benchmarks, a stored snapshot).
    pub fn with_record_type(
        mut self,
        object: &str,
        record_type_id: &str,
        picklists: RecordTypePicklists,
    ) -> Self {
        self.record_types.insert(
            (object.to_ascii_lowercase(), record_type_id.to_owned()),
            Arc::new(picklists),
        );
        self
    }

    /// Fetches the picklist values of each `(object, record type)` pair whose object and record
    /// type the describes know (`GET /ui-api/object-info/.../picklist-values/{id}`, not cached:
    /// a check wants today's values). Unknown ones are left for the check to report.
    ///
    /// # Errors
    /// Transport, auth and other API errors.
    pub async fn fetch_record_types(
        &mut self,
        conn: &Connection,
        pairs: &[(String, String)],
    ) -> Result<()> {
        for (object, rt) in pairs {
            let Some(id) = self
                .object(object)
                .and_then(|d| d.record_type(rt))
                .map(|r| r.record_type_id.clone())
            else {
                continue;
            };
            let key = (object.to_ascii_lowercase(), id);
            if self.record_types.contains_key(&key) {
                continue;
            }
            let values = conn.picklist_values(object, &key.1).await?;
            self.record_types.insert(key, Arc::new(values));
        }
        Ok(())
    }

    /// `field` of `object` as a record of `record_type` sees it: a picklist takes that record
    /// type's values (labels kept), every other field is as described. Without a record type,
    /// or one whose values were not fetched, the field as described.
    pub fn field_in<'a>(
        &self,
        object: &SObjectDescribe,
        field: &'a FieldDescribe,
        record_type: Option<&str>,
    ) -> Cow<'a, FieldDescribe> {
        let Some(rt) = record_type.and_then(|rt| object.record_type(rt)) else {
            return Cow::Borrowed(field);
        };
        let key = (object.name.to_ascii_lowercase(), rt.record_type_id.clone());
        let Some(values) = self
            .record_types
            .get(&key)
            .and_then(|p| p.picklist_field_values.get(&field.name))
        else {
            return Cow::Borrowed(field);
        };
        let mut f = field.clone();
        f.picklist_values = values
            .values
            .iter()
            .map(|v| PicklistValue {
                value: v.value.clone(),
                label: Some(v.label.clone()),
                active: true,
                default_value: false,
            })
            .collect();
        Cow::Owned(f)
    }

    /// Fetches the global describe and the describe of each of `objects` through `conn`'s
    /// cache; an object the org does not have (404) is remembered as missing, not an error.
    ///
    /// # Errors
    /// Transport, auth and other API errors.
    pub async fn fetch<'a>(
        conn: &Connection,
        objects: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        let global = conn.describe_global().await?;
        let mut out = Self {
            global: Some(global.clone()),
            ..Self::default()
        };
        for o in objects {
            let key = o.to_ascii_lowercase();
            if out.objects.contains_key(&key) || out.missing.contains(&key) {
                continue;
            }
            // NB: ask the global describe first, so a typo costs no round trip.
            if !global
                .sobjects
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(o))
            {
                out.missing.insert(key);
                continue;
            }
            match conn.describe(o).await {
                Ok(d) => {
                    out.objects.insert(key, d);
                }
                Err(ClientError::Api { status: 404, .. }) => {
                    out.missing.insert(key);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// The describe of `object` (case-insensitive).
    pub fn object(&self, object: &str) -> Option<&SObjectDescribe> {
        self.objects.get(&object.to_ascii_lowercase()).map(|d| &**d)
    }

    /// Every described object.
    pub fn objects(&self) -> impl Iterator<Item = &SObjectDescribe> {
        self.objects.values().map(|d| &**d)
    }

    /// The org's object names (from the global describe, else the described ones).
    pub fn object_names(&self) -> Vec<&str> {
        match &self.global {
            Some(g) => g.sobjects.iter().map(|s| s.name.as_str()).collect(),
            None => self.objects.values().map(|d| d.name.as_str()).collect(),
        }
    }

    /// The id key prefix of `object`, when known.
    pub fn key_prefix(&self, object: &str) -> Option<&str> {
        if let Some(d) = self.object(object)
            && let Some(p) = &d.key_prefix
        {
            return Some(p);
        }
        self.global.as_ref().and_then(|g| {
            g.sobjects
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(object))
                .and_then(|s| s.key_prefix.as_deref())
        })
    }

    /// The object whose ids start with `prefix`, when known.
    pub fn object_of_prefix(&self, prefix: &str) -> Option<&str> {
        self.global.as_ref().and_then(|g| {
            g.sobjects
                .iter()
                .find(|s| s.key_prefix.as_deref() == Some(prefix))
                .map(|s| s.name.as_str())
        })
    }
}
