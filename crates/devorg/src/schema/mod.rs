//! The org's schema: objects, fields, picklists and relationships.
//!
//! Standard objects are defined in code ([`standard`]); custom objects and fields come from a
//! schema file ([`custom`]). Describe JSON is rendered from these definitions ([`describe`]).
//! Names are matched case-insensitively, as Salesforce does.

pub mod custom;
pub mod describe;
pub mod standard;

use std::collections::HashMap;
use std::sync::Arc;

use callforce_types::KeyPrefix;

/// The type of a field, as describe reports it in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum FieldType {
    Id,
    String,
    TextArea,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Combobox,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    Time,
    Reference,
    Base64,
    Address,
}

/// One picklist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicklistValue {
    /// The API value.
    pub value: String,
    /// The label shown to users.
    pub label: String,
    /// Whether this entry is the default for new records.
    pub default: bool,
}

/// A field of an object.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// API name, such as `LastName` or `Demo_Requested_At__c`.
    pub name: String,
    /// Label, such as `Last Name`.
    pub label: String,
    /// The field's type.
    pub ty: FieldType,
    /// Maximum length for text types (0 otherwise).
    pub length: u32,
    /// Total digits for numbers.
    pub precision: u32,
    /// Digits after the decimal point for numbers.
    pub scale: u32,
    /// Whether the field may be null.
    pub nillable: bool,
    /// Whether a create may set it.
    pub createable: bool,
    /// Whether an update may set it.
    pub updateable: bool,
    /// Whether the org fills it on create when absent (owner, dates, defaults).
    pub defaulted_on_create: bool,
    /// Default value on create, if any.
    pub default_value: Option<serde_json::Value>,
    /// Whether values are unique across the object's records.
    pub unique: bool,
    /// Whether the field is an External ID (upsert key).
    pub external_id: bool,
    /// Whether unique comparisons are case-sensitive.
    pub case_sensitive: bool,
    /// Whether the value is computed (formula or compound); never writable.
    pub calculated: bool,
    /// Whether the value is an auto-number.
    pub auto_number: bool,
    /// Whether this is the object's name field.
    pub name_field: bool,
    /// Whether this is a custom (`__c`) field.
    pub custom: bool,
    /// Whether the picklist rejects values not in [`FieldDef::picklist`].
    pub restricted_picklist: bool,
    /// Picklist entries for picklist and multipicklist fields.
    pub picklist: Vec<PicklistValue>,
    /// For references: the objects it may point to (several when polymorphic).
    pub reference_to: Vec<String>,
    /// For references: the relationship name used in SOQL paths (`Account`, `Owner`, `Foo__r`).
    pub relationship_name: Option<String>,
    /// For compound parts: the compound field they belong to (`Name`, `MailingAddress`).
    pub compound_field_name: Option<String>,
    /// Whether the field holds HTML.
    pub html_formatted: bool,
    /// Whether the field was deleted from the org at run time ([`crate::DevOrg::alter_field`]):
    /// it keeps its position (stored records are laid out by position) but is no longer found
    /// by name, described, read or written.
    pub deleted: bool,
}

impl FieldDef {
    /// A plain, optional, writable field of the given type with sensible flags.
    pub fn new(name: &str, label: &str, ty: FieldType) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            ty,
            length: 0,
            precision: 0,
            scale: 0,
            nillable: true,
            createable: true,
            updateable: true,
            defaulted_on_create: false,
            default_value: None,
            unique: false,
            external_id: false,
            case_sensitive: false,
            calculated: false,
            auto_number: false,
            name_field: false,
            custom: name.ends_with("__c"),
            restricted_picklist: false,
            picklist: Vec::new(),
            reference_to: Vec::new(),
            relationship_name: None,
            compound_field_name: None,
            html_formatted: false,
            deleted: false,
        }
    }

    /// Whether a create must carry this field: createable, not nillable and not defaulted.
    pub fn required(&self) -> bool {
        self.createable
            && !self.nillable
            && !self.defaulted_on_create
            && self.ty != FieldType::Boolean
    }

    /// Whether the field is a reference to more than one object.
    pub fn polymorphic(&self) -> bool {
        self.reference_to.len() > 1
    }
}

/// A child relationship: records of `child_object` point at this object through `field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRelationship {
    /// The child object, such as `Contact`.
    pub child_object: String,
    /// The child's reference field, such as `AccountId`.
    pub field: String,
    /// The relationship name used in subqueries, such as `Contacts`.
    pub relationship_name: Option<String>,
    /// Whether deleting the parent deletes the children.
    pub cascade_delete: bool,
}

/// An object (sObject type) and its fields.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    /// API name, such as `Account` or `Call_Note__c`.
    pub name: String,
    /// Singular label.
    pub label: String,
    /// Plural label.
    pub label_plural: String,
    /// The 3-character id prefix.
    pub key_prefix: KeyPrefix,
    /// Whether this is a custom (`__c`) object.
    pub custom: bool,
    /// Whether records can be created through the API.
    pub createable: bool,
    /// Whether records can be updated.
    pub updateable: bool,
    /// Whether records can be deleted.
    pub deletable: bool,
    /// Whether SOQL may read it.
    pub queryable: bool,
    /// Whether SOSL searches it.
    pub searchable: bool,
    /// Fields in describe order (`Id` first).
    pub fields: Vec<FieldDef>,
    /// Relationships from child objects, filled in when the schema is assembled.
    pub child_relationships: Vec<ChildRelationship>,
    /// Record types (none on most objects); see [`RecordTypeDef`].
    pub record_types: Vec<RecordTypeDef>,
    field_index: HashMap<String, usize>,
}

/// A record type of an object: a named subset of each picklist's values.
///
/// Records choose one with `RecordTypeId`; a restricted picklist of a record with a record type
/// takes only that record type's values. A record without one takes the master list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTypeDef {
    /// The record type's id (`012...`).
    pub id: callforce_types::Id,
    /// The label (`Inbound`).
    pub name: String,
    /// The API name (`Inbound`).
    pub developer_name: String,
    /// Whether it is the default record type of new records in the UI.
    pub default: bool,
    /// Per picklist field (by API name), the values this record type offers, in order.
    pub picklists: Vec<(String, Vec<String>)>,
}

impl RecordTypeDef {
    /// The values `field` takes under this record type; `None` when the record type does not
    /// restrict it (every value of the master list).
    pub fn values(&self, field: &str) -> Option<&[String]> {
        self.picklists
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, v)| v.as_slice())
    }
}

impl ObjectDef {
    /// Builds an object from its fields; the lowercase name index is built here.
    pub fn new(
        name: &str,
        label: &str,
        label_plural: &str,
        key_prefix: KeyPrefix,
        fields: Vec<FieldDef>,
    ) -> Self {
        let mut o = Self {
            name: name.to_owned(),
            label: label.to_owned(),
            label_plural: label_plural.to_owned(),
            key_prefix,
            custom: name.ends_with("__c"),
            createable: true,
            updateable: true,
            deletable: true,
            queryable: true,
            searchable: true,
            fields,
            child_relationships: Vec::new(),
            record_types: Vec::new(),
            field_index: HashMap::new(),
        };
        o.reindex();
        o
    }

    /// Rebuilds the name index after `fields` changed; deleted fields are left out.
    pub fn reindex(&mut self) {
        self.field_index = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.deleted)
            .map(|(i, f)| (f.name.to_ascii_lowercase(), i))
            .collect();
    }

    /// The fields that were not deleted, with their positions, in describe order.
    pub fn live_fields(&self) -> impl Iterator<Item = (usize, &FieldDef)> {
        self.fields.iter().enumerate().filter(|(_, f)| !f.deleted)
    }

    /// The record type with id `id`, or whose API name is `id` (case-insensitively).
    pub fn record_type(&self, id: &str) -> Option<&RecordTypeDef> {
        self.record_types.iter().find(|r| {
            r.developer_name.eq_ignore_ascii_case(id)
                || callforce_types::Id::parse(id).is_ok_and(|i| i == r.id)
        })
    }

    /// The position of a field by name, case-insensitively.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.field_index.get(&name.to_ascii_lowercase()).copied()
    }

    /// A field by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// The reference field whose relationship name is `rel` (`Account` on Contact gives
    /// `AccountId`), case-insensitively.
    pub fn field_by_relationship(&self, rel: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| {
            !f.deleted
                && f.relationship_name
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }

    /// The child relationship named `rel` (`Contacts` on Account), case-insensitively.
    pub fn child_relationship(&self, rel: &str) -> Option<&ChildRelationship> {
        self.child_relationships.iter().find(|c| {
            c.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }
}

/// The whole schema of an org.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    objects: Vec<Arc<ObjectDef>>,
    by_name: HashMap<String, usize>,
    by_prefix: HashMap<KeyPrefix, usize>,
    describe_cache: Arc<describe::Cache>,
}

impl Schema {
    /// Assembles a schema from objects: indexes names and prefixes and derives every object's
    /// child relationships from the reference fields pointing at it.
    pub fn new(mut objects: Vec<ObjectDef>) -> Self {
        let mut children: HashMap<String, Vec<ChildRelationship>> = HashMap::new();
        for o in &objects {
            for f in o.fields.iter().filter(|f| !f.deleted) {
                for target in &f.reference_to {
                    children
                        .entry(target.to_ascii_lowercase())
                        .or_default()
                        .push(ChildRelationship {
                            child_object: o.name.clone(),
                            field: f.name.clone(),
                            relationship_name: child_relationship_name(o, f),
                            // Standard master-detail lookups, and custom lookups that are
                            // required (the schema file's master-detail form).
                            cascade_delete: standard::cascade_delete(&o.name, &f.name)
                                || (f.custom && !f.nillable),
                        });
                }
            }
        }
        for o in &mut objects {
            o.child_relationships = children
                .remove(&o.name.to_ascii_lowercase())
                .unwrap_or_default();
        }
        let objects: Vec<Arc<ObjectDef>> = objects.into_iter().map(Arc::new).collect();
        let by_name = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.to_ascii_lowercase(), i))
            .collect();
        let by_prefix = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.key_prefix, i))
            .collect();
        Self {
            objects,
            by_name,
            by_prefix,
            describe_cache: Arc::default(),
        }
    }

    /// All objects, in definition order.
    pub fn objects(&self) -> &[Arc<ObjectDef>] {
        &self.objects
    }

    /// An object by name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&Arc<ObjectDef>> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.objects[i])
    }

    /// A copy of the schema with `object` replaced (by name); child relationships are derived
    /// again, rendered describes are not carried over.
    pub fn with_object(&self, object: ObjectDef) -> Self {
        let key = object.name.to_ascii_lowercase();
        let mut object = Some(object);
        let objects = self
            .objects
            .iter()
            .map(|o| {
                if o.name.to_ascii_lowercase() == key {
                    object.take().unwrap_or_else(|| (**o).clone())
                } else {
                    (**o).clone()
                }
            })
            .collect();
        Self::new(objects)
    }

    /// The object whose ids carry this key prefix.
    pub fn object_by_prefix(&self, prefix: KeyPrefix) -> Option<&Arc<ObjectDef>> {
        self.by_prefix.get(&prefix).map(|&i| &self.objects[i])
    }
}

/// The plural relationship name a parent sees for children pointing at it through `field`.
///
/// Standard lookups use the child's plural label without spaces (`Contacts`, `Opportunities`),
/// with a few fixed exceptions; custom lookups use `<Child plural>__r`.
fn child_relationship_name(child: &ObjectDef, field: &FieldDef) -> Option<String> {
    standard::child_relationship_name(&child.name, &field.name).or_else(|| {
        field
            .custom
            .then(|| format!("{}__r", child.label_plural.replace(' ', "_")))
    })
}
