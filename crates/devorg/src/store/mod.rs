//! Records in memory, with indexes, all-or-nothing transactions and an optional journal.
//!
//! # Layout
//! One [`parking_lot::RwLock`] guards the whole org's data ([`Data`]). Each object has a
//! [`Table`]: its rows in a `Vec<`[`Record`]`>` (a row number, [`RowId`], never changes and rows
//! are never removed: a deleted record stays in the recycle bin with its `deleted` flag set), a map
//! from [`Id`] to row, and one [`FieldIndex`] per indexed field. A record keeps only the fields that
//! have a value, as a sorted `(field position, Value)` list, so wide objects with mostly empty
//! custom fields stay small.
//!
//! # Read API (for the query engine)
//! ```ignore
//! let data = org.store().read();                  // a read guard; hold it for one request
//! let table = data.table("Contact")?;             // by name, case-insensitively
//! for (row, rec) in table.live() { .. }           // not deleted (use `rows()` for queryAll)
//! let f = table.def().field_index("Phone")?;      // field positions come from the schema
//! let v: Option<&Value> = table.value(row, f);    // stored value (checkboxes default to false,
//!                                                 // IsDeleted from the flag, Name materialised)
//! let j = table.field_json(row, f);               // as Salesforce renders it (addresses too)
//! table.lookup(f, "(555) 123-4567")               // rows whose indexed value matches, key
//!                                                 // normalised the way the index does
//! table.children(account_id_field, account_id)    // child rows pointing at a parent
//! data.get(id)                                    // (table, row, record) from any object
//! ```
//! Lookups return deleted rows too; filter with [`Record::is_deleted`] unless serving `queryAll`.
//!
//! Indexed fields ([`IndexKind`]): External ID and unique fields (exact; case-insensitive unless
//! the field is case-sensitive), phone fields (digits only, see [`crate::value::normalise_phone`]),
//! email fields and the name field (lowercase), every reference field (parent id → child rows).
//!
//! # Writes
//! [`Store::write`] takes the write lock and gives a [`Txn`]: every change it makes is recorded
//! in an undo log, [`Txn::savepoint`] / [`Txn::rollback_to`] undo part of it, and dropping a
//! transaction without [`Txn::commit`] undoes all of it before the lock is released, so no
//! reader ever sees a partial all-or-none request. Commit appends the touched records to the
//! journal when the org has a data directory.

mod journal;
pub(crate) mod seed;
mod write;

use std::sync::Arc;

use callforce_types::{Id, KeyPrefix};
use compact_str::CompactString;
use hashbrown::HashMap;
use parking_lot::{RwLock, RwLockReadGuard};

pub use write::{Savepoint, Txn, Upserted, find_matches};

use crate::schema::{FieldDef, FieldType, ObjectDef, Schema};
use crate::value::{self, Value};
use crate::{Config, Result};

/// The position of a record in its table; stable for the life of the org.
pub type RowId = u32;

/// One record: its id, whether it is in the recycle bin, and its non-null field values.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Always [`Value::Id`]; kept as a value so readers can borrow it like any field.
    id: Value,
    deleted: bool,
    fields: Box<[(u16, Value)]>,
}

impl Record {
    /// The record's id.
    pub fn id(&self) -> Id {
        match self.id {
            Value::Id(id) => id,
            // Every constructor stores a Value::Id here.
            _ => Id::mint(KeyPrefix::new("000").expect("a constant valid prefix"), 0),
        }
    }

    /// Whether the record is in the recycle bin.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// The stored value of the field at `field` (its position in the object's fields).
    ///
    /// This is the raw stored value; [`Table::value`] adds the values the store does not keep
    /// (unset checkboxes read `false`, `IsDeleted` reads the flag).
    pub fn get(&self, field: usize) -> Option<&Value> {
        let f = u16::try_from(field).ok()?;
        self.fields
            .binary_search_by_key(&f, |(k, _)| *k)
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// The stored values, by field position, in field order.
    pub fn fields(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.fields.iter().map(|(k, v)| (usize::from(*k), v))
    }
}

/// Rows sharing one index key; one row is the common case and needs no allocation.
#[derive(Debug, Clone)]
enum Rows {
    One(RowId),
    Many(Vec<RowId>),
}

impl Rows {
    fn as_slice(&self) -> &[RowId] {
        match self {
            Self::One(r) => std::slice::from_ref(r),
            Self::Many(v) => v,
        }
    }

    fn push(&mut self, row: RowId) {
        match self {
            Self::One(r) => *self = Self::Many(vec![*r, row]),
            Self::Many(v) => v.push(row),
        }
    }

    /// Removes `row`; true when no row is left.
    fn remove(&mut self, row: RowId) -> bool {
        match self {
            Self::One(r) => *r == row,
            Self::Many(v) => {
                v.retain(|r| *r != row);
                match v.as_slice() {
                    [] => true,
                    [one] => {
                        *self = Self::One(*one);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

/// How an index turns a value into its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// External ID and unique fields: the text, lowercased; numbers in canonical form.
    Exact,
    /// Unique fields marked case-sensitive: the text as is.
    CaseSensitive,
    /// Phone fields: digits only (see [`crate::value::normalise_phone`]).
    Phone,
    /// Email fields and the name field: lowercased text.
    Lower,
    /// Reference fields: the parent's 18-character id.
    Reference,
}

impl IndexKind {
    fn for_field(f: &FieldDef) -> Option<Self> {
        Some(match f.ty {
            FieldType::Id | FieldType::Address => return None,
            FieldType::Reference => Self::Reference,
            _ if f.external_id || f.unique => {
                if f.case_sensitive {
                    Self::CaseSensitive
                } else {
                    Self::Exact
                }
            }
            FieldType::Phone => Self::Phone,
            FieldType::Email => Self::Lower,
            _ if f.name_field => Self::Lower,
            _ => return None,
        })
    }

    /// The key of a stored value; `None` when the value is not indexed (empty phone...).
    fn key(self, v: &Value) -> Option<CompactString> {
        let k = match (self, v) {
            (_, Value::Null) => return None,
            (Self::Phone, Value::Str(s)) => value::normalise_phone(s),
            (Self::CaseSensitive, Value::Str(s)) => s.clone(),
            (_, Value::Str(s)) => s.to_lowercase(),
            (_, Value::Id(id)) => CompactString::from(id.as_str()),
            (_, Value::Int(i)) => compact_str::format_compact!("{i}"),
            (_, Value::Double(d)) => canonical_number(*d),
            (_, other) => compact_str::format_compact!("{other:?}"),
        };
        (!k.is_empty()).then_some(k)
    }

    /// The key of a value given as text (a URL segment, a query literal) for `field`.
    fn key_from_str(self, field: &FieldDef, raw: &str) -> Option<CompactString> {
        match field.ty {
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => {
                raw.trim().parse::<f64>().ok().map(canonical_number)
            }
            FieldType::Reference | FieldType::Id => Id::parse(raw.trim())
                .ok()
                .map(|id| CompactString::from(id.as_str())),
            _ => self.key(&Value::Str(CompactString::from(raw))),
        }
    }
}

fn canonical_number(d: f64) -> CompactString {
    if d.fract() == 0.0 && d.abs() < 1e15 {
        compact_str::format_compact!("{}", d as i64)
    } else {
        compact_str::format_compact!("{d}")
    }
}

/// One index over one field of a table.
#[derive(Debug, Clone)]
pub struct FieldIndex {
    field: u16,
    kind: IndexKind,
    map: HashMap<CompactString, Rows>,
}

impl FieldIndex {
    /// The indexed field's position.
    pub fn field(&self) -> usize {
        usize::from(self.field)
    }

    /// How keys are formed.
    pub fn kind(&self) -> IndexKind {
        self.kind
    }
}

/// Positions of the fields the store maintains itself, when the object has them.
#[derive(Debug, Clone, Default)]
struct Layout {
    id: Option<u16>,
    created_date: Option<u16>,
    last_modified_date: Option<u16>,
    system_modstamp: Option<u16>,
    created_by: Option<u16>,
    last_modified_by: Option<u16>,
    owner: Option<u16>,
    is_deleted: Option<u16>,
    /// A compound name (`Name` of Contact, Lead) and its parts in display order.
    compound_name: Option<(u16, Vec<u16>)>,
    /// Address fields and their parts with the JSON key each part has in the address object.
    addresses: Vec<(u16, Vec<(u16, String)>)>,
    /// Auto-number fields and the digits they are padded to.
    auto_numbers: Vec<(u16, usize)>,
    /// Whether the object is an Opportunity with StageName (stage-derived defaults apply).
    stage: Option<StageFields>,
    /// `Status` and `IsClosed` of objects other than Opportunity (Case, Task, Lead).
    status_closed: Option<(u16, u16)>,
}

#[derive(Debug, Clone, Copy)]
struct StageFields {
    stage: u16,
    probability: Option<u16>,
    forecast: Option<u16>,
    is_closed: Option<u16>,
    is_won: Option<u16>,
}

fn pos(def: &ObjectDef, name: &str) -> Option<u16> {
    def.field_index(name).and_then(|i| u16::try_from(i).ok())
}

impl Layout {
    fn new(def: &ObjectDef) -> Self {
        let part_of = |compound: &str| -> Vec<(u16, &FieldDef)> {
            def.fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.compound_field_name.as_deref() == Some(compound))
                .filter_map(|(i, f)| Some((u16::try_from(i).ok()?, f)))
                .collect()
        };
        let mut compound_name = None;
        let mut addresses = Vec::new();
        for (i, f) in def.fields.iter().enumerate() {
            let Ok(i16) = u16::try_from(i) else { continue };
            let parts = part_of(&f.name);
            if parts.is_empty() {
                continue;
            }
            if f.ty == FieldType::Address {
                let prefix = f.name.strip_suffix("Address").unwrap_or("");
                let mut keyed: Vec<(u16, String)> = parts
                    .iter()
                    .map(|(p, pf)| {
                        let rest = pf.name.strip_prefix(prefix).unwrap_or(&pf.name);
                        let mut key = rest.to_owned();
                        if let Some(c) = key.get(..1) {
                            key.replace_range(..1, &c.to_ascii_lowercase());
                        }
                        (*p, key)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.1.cmp(&b.1));
                addresses.push((i16, keyed));
            } else if f.ty == FieldType::String {
                // Salesforce's Name is "First Middle Last Suffix"; the salutation is not part
                // of it.
                let order = ["FirstName", "MiddleName", "LastName", "Suffix"];
                let ordered = order
                    .iter()
                    .filter_map(|n| {
                        parts
                            .iter()
                            .find(|(_, pf)| pf.name.eq_ignore_ascii_case(n))
                            .map(|(p, _)| *p)
                    })
                    .collect();
                compound_name = Some((i16, ordered));
            }
        }
        let auto_numbers = def
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.auto_number)
            .filter_map(|(i, f)| {
                let width = if f.name == "ArticleNumber" { 9 } else { 8 };
                Some((u16::try_from(i).ok()?, width))
            })
            .collect();
        let stage = (def.name == "Opportunity")
            .then(|| pos(def, "StageName"))
            .flatten()
            .map(|stage| StageFields {
                stage,
                probability: pos(def, "Probability"),
                forecast: pos(def, "ForecastCategoryName"),
                is_closed: pos(def, "IsClosed"),
                is_won: pos(def, "IsWon"),
            });
        let status_closed = (def.name != "Opportunity")
            .then(|| Some((pos(def, "Status")?, pos(def, "IsClosed")?)))
            .flatten();
        Self {
            status_closed,
            id: pos(def, "Id"),
            created_date: pos(def, "CreatedDate"),
            last_modified_date: pos(def, "LastModifiedDate"),
            system_modstamp: pos(def, "SystemModstamp"),
            created_by: pos(def, "CreatedById"),
            last_modified_by: pos(def, "LastModifiedById"),
            owner: pos(def, "OwnerId"),
            is_deleted: pos(def, "IsDeleted"),
            compound_name,
            addresses,
            auto_numbers,
            stage,
        }
    }
}

/// The records of one object, with their indexes.
#[derive(Debug, Clone)]
pub struct Table {
    def: Arc<ObjectDef>,
    rows: Vec<Record>,
    by_id: HashMap<Id, RowId>,
    indexes: Vec<FieldIndex>,
    /// For each field position, the slot of its index in `indexes`.
    slot: Vec<Option<u16>>,
    /// Shared so a write can hold it while mutating the table.
    layout: Arc<Layout>,
    /// Next value of each auto-number field, in `layout.auto_numbers` order.
    next_auto: Vec<u64>,
}

static FALSE: Value = Value::Bool(false);
static TRUE: Value = Value::Bool(true);

impl Table {
    fn new(def: Arc<ObjectDef>) -> Self {
        let mut indexes = Vec::new();
        let mut slot = vec![None; def.fields.len()];
        for (i, f) in def.fields.iter().enumerate() {
            if let (Some(kind), Ok(field)) = (IndexKind::for_field(f), u16::try_from(i)) {
                slot[i] = u16::try_from(indexes.len()).ok();
                indexes.push(FieldIndex {
                    field,
                    kind,
                    map: HashMap::new(),
                });
            }
        }
        let layout = Arc::new(Layout::new(&def));
        let next_auto = vec![1000; layout.auto_numbers.len()];
        Self {
            def,
            rows: Vec::new(),
            by_id: HashMap::new(),
            indexes,
            slot,
            layout,
            next_auto,
        }
    }

    /// The object's definition.
    pub fn def(&self) -> &Arc<ObjectDef> {
        &self.def
    }

    /// Every row, deleted ones included (what `queryAll` sees).
    pub fn rows(&self) -> impl Iterator<Item = (RowId, &Record)> {
        self.rows.iter().enumerate().map(|(i, r)| (i as RowId, r))
    }

    /// The rows not in the recycle bin (what `query` sees).
    pub fn live(&self) -> impl Iterator<Item = (RowId, &Record)> {
        self.rows().filter(|(_, r)| !r.deleted)
    }

    /// How many records, deleted ones included.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no record at all.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The record at `row`.
    pub fn record(&self, row: RowId) -> Option<&Record> {
        self.rows.get(row as usize)
    }

    /// The row of a record of this object, deleted or not.
    pub fn row_of(&self, id: Id) -> Option<RowId> {
        self.by_id.get(&id).copied()
    }

    /// The index over the field at `field`, if that field is indexed.
    pub fn index(&self, field: usize) -> Option<&FieldIndex> {
        let s = (*self.slot.get(field)?)?;
        self.indexes.get(usize::from(s))
    }

    /// The rows (deleted included) whose indexed `field` matches `raw`, normalised as the
    /// index does (lowercase, phone digits, canonical numbers, 15- or 18-character ids).
    ///
    /// `None` when the field is not indexed; an empty slice when nothing matches.
    pub fn lookup(&self, field: usize, raw: &str) -> Option<&[RowId]> {
        let idx = self.index(field)?;
        let def = self.def.fields.get(field)?;
        Some(
            idx.kind
                .key_from_str(def, raw)
                .and_then(|k| idx.map.get(&k))
                .map_or(&[][..], Rows::as_slice),
        )
    }

    /// The rows (deleted included) whose reference `field` points at `parent`.
    pub fn children(&self, field: usize, parent: Id) -> &[RowId] {
        self.index(field)
            .and_then(|idx| idx.map.get(parent.as_str()))
            .map_or(&[][..], Rows::as_slice)
    }

    /// The value of `field` at `row` as a reader should see it: the stored value, `false` for an
    /// unset checkbox, the deleted flag for `IsDeleted`; `None` means null.
    pub fn value(&self, row: RowId, field: usize) -> Option<&Value> {
        let rec = self.rows.get(row as usize)?;
        if self.layout.id.map(usize::from) == Some(field) {
            return Some(&rec.id);
        }
        if self.layout.is_deleted.map(usize::from) == Some(field) {
            return Some(if rec.deleted { &TRUE } else { &FALSE });
        }
        rec.get(field)
            .or_else(|| (self.def.fields.get(field)?.ty == FieldType::Boolean).then_some(&FALSE))
    }

    /// The JSON Salesforce sends for `field` at `row`: explicit `null`, compound addresses as
    /// `{city, country, geocodeAccuracy, latitude, longitude, postalCode, state, street}`
    /// (null when every part is).
    pub fn field_json(&self, row: RowId, field: usize) -> serde_json::Value {
        let Some(def) = self.def.fields.get(field) else {
            return serde_json::Value::Null;
        };
        if def.ty == FieldType::Address {
            let Some((_, parts)) = self
                .layout
                .addresses
                .iter()
                .find(|(a, _)| usize::from(*a) == field)
            else {
                return serde_json::Value::Null;
            };
            let mut obj = serde_json::Map::new();
            let mut any = false;
            for (p, key) in parts {
                let p = usize::from(*p);
                let v = self.value(row, p).map_or(serde_json::Value::Null, |v| {
                    value::to_json(&self.def.fields[p], v)
                });
                any |= !v.is_null();
                obj.insert(key.clone(), v);
            }
            return if any {
                serde_json::Value::Object(obj)
            } else {
                serde_json::Value::Null
            };
        }
        self.value(row, field)
            .map_or(serde_json::Value::Null, |v| value::to_json(def, v))
    }

    /// The record at `row` as the REST API renders it: `attributes` then the fields at
    /// `fields` (every field when `None`), in the order given.
    pub fn record_json(
        &self,
        row: RowId,
        fields: Option<&[usize]>,
        version: callforce_types::ApiVersion,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        let Some(rec) = self.rows.get(row as usize) else {
            return out;
        };
        out.insert(
            "attributes".into(),
            serde_json::json!({
                "type": self.def.name,
                "url": record_url(version, &self.def.name, rec.id()),
            }),
        );
        let all: Vec<usize>;
        let fields = match fields {
            Some(f) => f,
            None => {
                all = self.def.live_fields().map(|(i, _)| i).collect();
                &all
            }
        };
        for &f in fields {
            if let Some(def) = self.def.fields.get(f) {
                out.insert(def.name.clone(), self.field_json(row, f));
            }
        }
        out
    }

    fn index_row(&mut self, row: RowId) {
        let Some(rec) = self.rows.get(row as usize) else {
            return;
        };
        for idx in &mut self.indexes {
            if let Some(k) = rec.get(idx.field()).and_then(|v| idx.kind.key(v)) {
                match idx.map.get_mut(&k) {
                    Some(rows) => rows.push(row),
                    None => {
                        idx.map.insert(k, Rows::One(row));
                    }
                }
            }
        }
    }

    fn unindex_row(&mut self, row: RowId) {
        let Some(rec) = self.rows.get(row as usize) else {
            return;
        };
        for idx in &mut self.indexes {
            if let Some(k) = rec.get(idx.field()).and_then(|v| idx.kind.key(v))
                && idx.map.get_mut(&k).is_some_and(|rows| rows.remove(row))
            {
                idx.map.remove(&k);
            }
        }
    }
}

/// The `attributes.url` of a record: `/services/data/v59.0/sobjects/Contact/003…`.
pub fn record_url(version: callforce_types::ApiVersion, object: &str, id: Id) -> String {
    format!("/services/data/{version}/sobjects/{object}/{id}")
}

/// All the org's records: one table per object of the schema.
pub struct Data {
    schema: Arc<Schema>,
    tables: Vec<Table>,
    by_name: HashMap<String, usize>,
    by_prefix: HashMap<KeyPrefix, usize>,
    /// The next id counter; one counter for the whole org.
    counter: u64,
    dev_user: Id,
    journal: Option<journal::Journal>,
}

impl Data {
    fn new(schema: Arc<Schema>, dev_user: Id) -> Self {
        let tables: Vec<Table> = schema
            .objects()
            .iter()
            .map(|o| Table::new(o.clone()))
            .collect();
        let by_name = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.def.name.to_ascii_lowercase(), i))
            .collect();
        let by_prefix = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.def.key_prefix, i))
            .collect();
        Self {
            schema,
            tables,
            by_name,
            by_prefix,
            counter: 1,
            dev_user,
            journal: None,
        }
    }

    /// The schema the tables follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The position of an object's table, by name, case-insensitively.
    pub fn table_index(&self, object: &str) -> Option<usize> {
        self.by_name.get(&object.to_ascii_lowercase()).copied()
    }

    /// An object's table, by name, case-insensitively.
    pub fn table(&self, object: &str) -> Option<&Table> {
        self.table_index(object).map(|i| &self.tables[i])
    }

    /// The table at a position from [`Data::table_index`].
    pub fn table_at(&self, i: usize) -> Option<&Table> {
        self.tables.get(i)
    }

    /// The table of the object whose ids carry `prefix`.
    pub fn table_by_prefix(&self, prefix: KeyPrefix) -> Option<&Table> {
        self.by_prefix.get(&prefix).map(|&i| &self.tables[i])
    }

    /// Every table, in schema order.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// A record of any object by id (the key prefix names the table), deleted or not.
    pub fn get(&self, id: Id) -> Option<(&Table, RowId, &Record)> {
        let t = self.table_by_prefix(id.key_prefix())?;
        let row = t.row_of(id)?;
        Some((t, row, t.record(row)?))
    }

    /// The dev user, owner and creator of records made through the API.
    pub fn dev_user(&self) -> Id {
        self.dev_user
    }
}

/// A read guard on the org's data; hold it for one request at most.
pub type ReadGuard<'a> = RwLockReadGuard<'a, Data>;

/// The org's records.
pub struct Store {
    data: RwLock<Data>,
}

impl Store {
    /// An empty store for `schema` (no seed, no journal); `dev_user` owns what is created.
    pub fn empty(schema: Arc<Schema>, dev_user: Id) -> Self {
        Self {
            data: RwLock::new(Data::new(schema, dev_user)),
        }
    }

    /// Opens the store: replays the data directory's journal if it has one, else loads the seed
    /// (`base.json`, then `demo.json` for [`crate::Seed::Demo`]) and, with a data directory,
    /// journals it so later starts replay rather than reseed.
    ///
    /// # Errors
    /// [`crate::Error::Data`] when the data directory cannot be read or written, or its journal
    /// is corrupt; [`crate::Error::Seed`] when the embedded seed does not load.
    pub fn open(schema: Arc<Schema>, config: &Config, dev_user: Id) -> Result<Self> {
        Self::open_with(schema, config, dev_user, true)
    }

    /// As [`Store::open`]; with `seed` false an org with nothing stored starts with no records
    /// at all (tests over a schema the seed files do not fit).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(
        schema: Arc<Schema>,
        config: &Config,
        dev_user: Id,
        seed: bool,
    ) -> Result<Self> {
        let store = Self::empty(schema, dev_user);
        let mut replayed = false;
        if let Some(dir) = &config.data_dir {
            let (journal, lines) = journal::Journal::open(dir)?;
            let mut txn = store.write();
            replayed = journal::replay(&mut txn, &lines)? > 0;
            txn.settle();
            store.data.write().journal = Some(journal);
        }
        if !replayed && seed {
            seed::load(&store, config.seed)?;
        }
        Ok(store)
    }

    /// Makes the tables follow `schema` from now on (a field deleted or made read-only at run
    /// time). Field positions must be the same as before: stored records are laid out by them.
    pub fn replace_schema(&self, schema: Arc<Schema>) {
        let mut data = self.data.write();
        for t in &mut data.tables {
            if let Some(o) = schema.object(&t.def.name)
                && o.fields.len() == t.def.fields.len()
            {
                t.def = o.clone();
            }
        }
        data.schema = schema;
    }

    /// A read guard on the data: see the module docs for what it offers.
    pub fn read(&self) -> ReadGuard<'_> {
        self.data.read()
    }

    /// Starts a write transaction: holds the write lock until committed or dropped (dropping
    /// rolls back).
    pub fn write(&self) -> Txn<'_> {
        Txn::new(self.data.write())
    }
}

#[cfg(test)]
pub(crate) mod tests;
