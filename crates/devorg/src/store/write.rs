//! Write transactions: create, update, delete, upsert, with validation and an undo log.
//!
//! Validation follows Salesforce's order closely enough for clients: unknown fields
//! (`INVALID_FIELD`) first, then fields that may not be written (`INVALID_FIELD_FOR_INSERT_UPDATE`,
//! all of them in one message), then each value in body order (type, format, length, picklist,
//! email, id shape: the first error wins), then required fields (all missing ones in one
//! message), then references to records that do not exist or are deleted, then unique values.

use axum::http::StatusCode;
use callforce_types::{ApiErrorBody, Id};
use parking_lot::RwLockWriteGuard;
use serde_json::{Map, Value as J};

use super::{Data, Record, RowId, StageFields, Table};
use crate::ApiError;
use crate::schema::{FieldType, ObjectDef};
use crate::value::{self, Value};

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// No record matched: one was created.
    Created(Id),
    /// One record matched and was updated.
    Updated(Id),
    /// Several records matched; nothing changed.
    Multiple(Vec<Id>),
}

/// A point in a transaction to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    undo: usize,
    touched: usize,
}

#[derive(Debug)]
enum Undo {
    Created {
        table: usize,
        row: RowId,
    },
    Replaced {
        table: usize,
        row: RowId,
        old: Record,
    },
    Counter(u64),
    Auto {
        table: usize,
        slot: usize,
        old: u64,
    },
}

/// A write transaction holding the store's write lock; see the module docs of [`crate::store`].
pub struct Txn<'a> {
    data: RwLockWriteGuard<'a, Data>,
    undo: Vec<Undo>,
    touched: Vec<(usize, RowId)>,
    now: i64,
    committed: bool,
}

fn bad_request(code: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn entity_is_deleted() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ENTITY_IS_DELETED",
        "entity is deleted",
    )
}

/// A record's record type and its restricted picklists: a `RecordTypeId` must be one of the
/// object's record types, and a restricted picklist value given in this write must be one the
/// record's record type offers (a record created without one has the default record type; a
/// record without any, such as a seeded one, takes the master list, already checked with the
/// value).
fn check_record_type(def: &ObjectDef, draft: &Draft, given: &[u16]) -> Result<(), ApiError> {
    if def.record_types.is_empty() {
        return Ok(());
    }
    let Some(rt_field) = def
        .field_index("RecordTypeId")
        .and_then(|i| u16::try_from(i).ok())
    else {
        return Ok(());
    };
    let Some(rt_id) = draft.get(rt_field).and_then(Value::as_id) else {
        return Ok(());
    };
    let Some(rt) = def.record_types.iter().find(|r| r.id == rt_id) else {
        return Err(ApiError::with_fields(
            StatusCode::BAD_REQUEST,
            "INVALID_CROSS_REFERENCE_KEY",
            format!("Record Type ID: this ID value isn't valid for the user: {rt_id}"),
            vec!["RecordTypeId".into()],
        ));
    };
    for &p in given {
        let f = &def.fields[usize::from(p)];
        if !f.restricted_picklist {
            continue;
        }
        let (Some(allowed), Some(v)) = (rt.values(&f.name), draft.get(p).and_then(Value::as_str))
        else {
            continue;
        };
        let parts: Vec<&str> = if f.ty == FieldType::MultiPicklist {
            v.split(';').map(str::trim).collect()
        } else {
            vec![v]
        };
        if let Some(bad) = parts.iter().find(|p| !allowed.iter().any(|a| a == *p)) {
            return Err(ApiError::with_fields(
                StatusCode::BAD_REQUEST,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                format!(
                    "{}: bad value for restricted picklist field: {bad}",
                    f.label
                ),
                vec![f.name.clone()],
            ));
        }
    }
    Ok(())
}

/// `No such column 'X' on sobject of type Contact`.
pub(crate) fn no_such_column(field: &str, object: &str) -> ApiError {
    bad_request(
        "INVALID_FIELD",
        format!("No such column '{field}' on sobject of type {object}"),
    )
}

/// Values being assembled for one record, sorted by field position on completion.
struct Draft {
    values: Vec<(u16, Value)>,
}

impl Draft {
    fn from_record(r: &Record) -> Self {
        Self {
            values: r.fields.to_vec(),
        }
    }

    fn get(&self, f: u16) -> Option<&Value> {
        self.values.iter().find(|(k, _)| *k == f).map(|(_, v)| v)
    }

    fn set(&mut self, f: u16, v: Value) {
        self.values.retain(|(k, _)| *k != f);
        if !v.is_null() {
            self.values.push((f, v));
        }
    }

    fn set_if_absent(&mut self, f: u16, v: Value) {
        if self.get(f).is_none() {
            self.set(f, v);
        }
    }

    fn finish(mut self) -> Box<[(u16, Value)]> {
        self.values.sort_by_key(|(k, _)| *k);
        self.values.into_boxed_slice()
    }
}

/// Whether a write is a create or an update, and whether it may set system fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
}

impl<'a> Txn<'a> {
    pub(super) fn new(data: RwLockWriteGuard<'a, Data>) -> Self {
        Self {
            data,
            undo: Vec::new(),
            touched: Vec::new(),
            now: chrono::Utc::now().timestamp_millis(),
            committed: false,
        }
    }

    /// The data as this transaction sees it (its own writes included).
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The current point, to roll back to with [`Txn::rollback_to`].
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            undo: self.undo.len(),
            touched: self.touched.len(),
        }
    }

    /// Undoes every change made since `sp`.
    pub fn rollback_to(&mut self, sp: Savepoint) {
        while self.undo.len() > sp.undo {
            let Some(u) = self.undo.pop() else { break };
            let data = &mut *self.data;
            match u {
                Undo::Created { table, row } => {
                    let t = &mut data.tables[table];
                    t.unindex_row(row);
                    if let Some(rec) = t.rows.pop() {
                        debug_assert_eq!(t.rows.len(), row as usize);
                        t.by_id.remove(&rec.id());
                    }
                }
                Undo::Replaced { table, row, old } => {
                    let t = &mut data.tables[table];
                    t.unindex_row(row);
                    t.rows[row as usize] = old;
                    t.index_row(row);
                }
                Undo::Counter(old) => data.counter = old,
                Undo::Auto { table, slot, old } => data.tables[table].next_auto[slot] = old,
            }
        }
        self.touched.truncate(sp.touched);
    }

    /// Makes the changes permanent: appends them to the journal (when the org has one) and
    /// releases the lock.
    ///
    /// # Errors
    /// The journal could not be written; the changes are rolled back.
    pub fn commit(mut self) -> std::io::Result<()> {
        let result = self.write_journal();
        if result.is_ok() {
            self.committed = true;
        }
        result
    }

    fn write_journal(&mut self) -> std::io::Result<()> {
        if self.touched.is_empty() || self.data.journal.is_none() {
            return Ok(());
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        let data = &mut *self.data;
        let lines: Vec<J> = touched
            .iter()
            .filter_map(|&(t, row)| super::journal::record_line(&data.tables[t], row))
            .collect();
        match data.journal.as_mut() {
            Some(j) => j.append(&lines),
            None => Ok(()),
        }
    }

    fn next_id(&mut self, table: usize) -> Id {
        let prefix = self.data.tables[table].def.key_prefix;
        loop {
            let n = self.data.counter;
            self.undo.push(Undo::Counter(n));
            self.data.counter = n + 1;
            let id = Id::mint(prefix, n);
            // Explicit ids (seeds) may have taken a counter value already.
            if self.data.tables[table].row_of(id).is_none() {
                return id;
            }
        }
    }

    fn note_explicit_id(&mut self, id: Id) {
        if let Some(n) = minted_counter(id)
            && n >= self.data.counter
        {
            self.undo.push(Undo::Counter(self.data.counter));
            self.data.counter = n + 1;
        }
    }

    /// The object's definition; clone the `Arc` (cheap), never the definition (NB: a wide
    /// object's definition is hundreds of fields, and cloning it per write dominated creates).
    fn table_def(&self, table: usize) -> &std::sync::Arc<ObjectDef> {
        &self.data.tables[table].def
    }

    /// Creates a record of the object at `table` from a REST body; returns its id.
    ///
    /// # Errors
    /// The Salesforce error for the first problem found (see the module docs for the order).
    pub fn create(&mut self, table: usize, body: &Map<String, J>) -> Result<Id, ApiError> {
        self.create_with(table, body, false)
    }

    /// As [`Txn::create`], but system fields and `Id` may be given (seed and import data).
    pub(crate) fn create_trusted(
        &mut self,
        table: usize,
        body: &Map<String, J>,
    ) -> Result<Id, ApiError> {
        self.create_with(table, body, true)
    }

    fn create_with(
        &mut self,
        table: usize,
        body: &Map<String, J>,
        trusted: bool,
    ) -> Result<Id, ApiError> {
        let def = self.table_def(table).clone();
        if !def.createable && !trusted {
            return Err(bad_request(
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be inserted: {}", def.label),
            ));
        }
        let mut explicit_id = None;
        let mut draft = Draft { values: Vec::new() };
        let given = self.apply_body(
            table,
            body,
            Mode::Create,
            trusted,
            &mut draft,
            &mut explicit_id,
        )?;
        let id = match explicit_id {
            Some(id) => {
                if self.data.tables[table].row_of(id).is_some() {
                    return Err(bad_request(
                        "DUPLICATE_VALUE",
                        format!(
                            "duplicate value found: Id duplicates value on record with id: {id}"
                        ),
                    ));
                }
                self.note_explicit_id(id);
                id
            }
            None => self.next_id(table),
        };
        let layout = self.data.tables[table].layout.clone();
        let now = Value::DateTime(self.now);
        let user = Value::Id(self.data.dev_user);
        for f in [
            layout.created_date,
            layout.last_modified_date,
            layout.system_modstamp,
        ]
        .into_iter()
        .flatten()
        {
            draft.set_if_absent(f, now.clone());
        }
        for f in [layout.created_by, layout.last_modified_by, layout.owner]
            .into_iter()
            .flatten()
        {
            draft.set_if_absent(f, user.clone());
        }
        // A record created through the API without a record type gets the user's default one,
        // as Salesforce gives it the profile's default, and its restricted picklists follow it.
        // Seeded records keep what their file says (records older than the record types).
        if !trusted
            && let Some(rt) = def.record_types.iter().find(|r| r.default)
            && let Some(p) = def
                .field_index("RecordTypeId")
                .and_then(|i| u16::try_from(i).ok())
            && draft.get(p).is_none()
        {
            draft.set(p, Value::Id(rt.id));
        }
        // Defaults: the field's default value, else its default picklist entry.
        for (i, f) in def.live_fields() {
            let Ok(p) = u16::try_from(i) else { continue };
            if draft.get(p).is_some() || given.contains(&p) {
                continue;
            }
            if let Some(dv) = &f.default_value
                && let Ok(v) = value::from_json(f, dv, &self.data.schema)
            {
                draft.set(p, v);
            } else if let Some(e) = f.picklist.iter().find(|e| e.default) {
                draft.set(p, Value::Str(e.value.as_str().into()));
            }
        }
        for (slot, (f, width)) in layout.auto_numbers.iter().enumerate() {
            if draft.get(*f).is_none() {
                let n = self.data.tables[table].next_auto[slot];
                self.undo.push(Undo::Auto {
                    table,
                    slot,
                    old: n,
                });
                self.data.tables[table].next_auto[slot] = n + 1;
                draft.set(*f, Value::Str(compact_str::format_compact!("{n:0width$}")));
            } else if let Some(n) = draft
                .get(*f)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                && n >= self.data.tables[table].next_auto[slot]
            {
                let old = self.data.tables[table].next_auto[slot];
                self.undo.push(Undo::Auto { table, slot, old });
                self.data.tables[table].next_auto[slot] = n + 1;
            }
        }
        if let Some(sf) = layout.stage {
            apply_stage(sf, &given, &mut draft);
        }
        if let Some((status, closed)) = layout.status_closed {
            apply_status(&def.name, status, closed, &mut draft);
        }
        if let Some((name, parts)) = &layout.compound_name {
            compose_name(*name, parts, &mut draft);
        }
        self.check_required(&def, &draft, None)?;
        if !trusted {
            check_record_type(&def, &draft, &given)?;
        }
        self.check_references(&def, &draft, &given)?;
        self.check_unique(table, &draft, None)?;
        let record = Record {
            id: Value::Id(id),
            deleted: false,
            fields: draft.finish(),
        };
        let t = &mut self.data.tables[table];
        let row = t.rows.len() as RowId;
        t.rows.push(record);
        t.by_id.insert(id, row);
        t.index_row(row);
        self.undo.push(Undo::Created { table, row });
        self.touched.push((table, row));
        Ok(id)
    }

    /// Applies a body's fields to `draft`; returns the positions given. Checks unknown fields,
    /// writability and each value.
    fn apply_body(
        &mut self,
        table: usize,
        body: &Map<String, J>,
        mode: Mode,
        trusted: bool,
        draft: &mut Draft,
        explicit_id: &mut Option<Id>,
    ) -> Result<Vec<u16>, ApiError> {
        let def = self.data.tables[table].def.clone();
        let mut fields = Vec::with_capacity(body.len());
        for (k, v) in body {
            if k == "attributes" {
                continue;
            }
            match def.field_index(k) {
                Some(i) => fields.push((i, v)),
                None => return Err(no_such_column(k, &def.name)),
            }
        }
        let mut readonly = Vec::new();
        for &(i, v) in &fields {
            let f = &def.fields[i];
            if f.ty == FieldType::Id {
                if v.is_null() {
                    continue;
                }
                if mode == Mode::Create && !trusted {
                    return Err(bad_request(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call".into(),
                    ));
                }
                continue;
            }
            let writable = match mode {
                Mode::Create => f.createable,
                Mode::Update => f.updateable,
            };
            if !writable && !trusted {
                readonly.push(f.name.clone());
            }
        }
        if !readonly.is_empty() {
            return Err(ApiError::with_fields(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    readonly.join(", ")
                ),
                readonly,
            ));
        }
        let mut given = Vec::with_capacity(fields.len());
        for (i, v) in fields {
            let f = &def.fields[i];
            let Ok(p) = u16::try_from(i) else { continue };
            if f.ty == FieldType::Id {
                if trusted && mode == Mode::Create && !v.is_null() {
                    let raw = v.as_str().unwrap_or_default();
                    let id = Id::parse(raw)
                        .ok()
                        .filter(|id| id.key_prefix() == def.key_prefix)
                        .ok_or_else(|| value::malformed_id(f, &value::display(v)))?;
                    *explicit_id = Some(id);
                }
                continue;
            }
            let val = if f.ty == FieldType::Address {
                Value::Null
            } else {
                value::from_json(f, v, &self.data.schema)?
            };
            draft.set(p, val);
            given.push(p);
        }
        Ok(given)
    }

    fn check_required(
        &self,
        def: &ObjectDef,
        draft: &Draft,
        only: Option<&[u16]>,
    ) -> Result<(), ApiError> {
        let missing: Vec<String> = def
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                let p = *i as u16;
                let in_scope = match only {
                    Some(o) => o.contains(&p) && !f.nillable && f.ty != FieldType::Boolean,
                    None => f.required(),
                };
                in_scope && draft.get(p).is_none()
            })
            .map(|(_, f)| f.name.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::with_fields(
            StatusCode::BAD_REQUEST,
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            missing,
        ))
    }

    fn check_references(
        &self,
        def: &ObjectDef,
        draft: &Draft,
        given: &[u16],
    ) -> Result<(), ApiError> {
        for &p in given {
            let f = &def.fields[usize::from(p)];
            if f.ty != FieldType::Reference {
                continue;
            }
            let Some(id) = draft.get(p).and_then(Value::as_id) else {
                continue;
            };
            match self.data.get(id) {
                Some((_, _, rec)) if rec.is_deleted() => {
                    return Err(ApiError::with_fields(
                        StatusCode::BAD_REQUEST,
                        "ENTITY_IS_DELETED",
                        "entity is deleted",
                        vec![f.name.clone()],
                    ));
                }
                Some(_) => {}
                None => {
                    return Err(ApiError::with_fields(
                        StatusCode::BAD_REQUEST,
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        vec![f.name.clone()],
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_unique(&self, table: usize, draft: &Draft, me: Option<RowId>) -> Result<(), ApiError> {
        let t = &self.data.tables[table];
        for idx in &t.indexes {
            let f = &t.def.fields[idx.field()];
            if !f.unique {
                continue;
            }
            let Some(key) = draft.get(idx.field).and_then(|v| idx.kind.key(v)) else {
                continue;
            };
            let other = idx.map.get(&key).and_then(|rows| {
                rows.as_slice()
                    .iter()
                    .find(|r| Some(**r) != me && !t.rows[**r as usize].deleted)
                    .copied()
            });
            if let Some(r) = other {
                return Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    errors: vec![ApiErrorBody {
                        message: format!(
                            "duplicate value found: {} duplicates value on record with id: {}",
                            f.name,
                            t.rows[r as usize].id()
                        ),
                        error_code: "DUPLICATE_VALUE".into(),
                        fields: Some(Vec::new()),
                    }],
                });
            }
        }
        Ok(())
    }

    /// The live row of `id` in `table`: 404 NOT_FOUND when absent, ENTITY_IS_DELETED when in the
    /// recycle bin.
    fn live_row(&self, table: usize, id: Id) -> Result<RowId, ApiError> {
        let t = &self.data.tables[table];
        let row = t.row_of(id).ok_or_else(ApiError::not_found)?;
        if t.rows[row as usize].deleted {
            return Err(entity_is_deleted());
        }
        Ok(row)
    }

    /// Updates the record `id` of the object at `table` from a REST body.
    ///
    /// # Errors
    /// 404 NOT_FOUND, 404 ENTITY_IS_DELETED, or the validation error.
    pub fn update(&mut self, table: usize, id: Id, body: &Map<String, J>) -> Result<(), ApiError> {
        let def = self.table_def(table).clone();
        let row = self.live_row(table, id)?;
        if !def.updateable {
            return Err(bad_request(
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be updated: {}", def.label),
            ));
        }
        let old = self.data.tables[table].rows[row as usize].clone();
        let mut draft = Draft::from_record(&old);
        let mut ignored = None;
        let given = self.apply_body(table, body, Mode::Update, false, &mut draft, &mut ignored)?;
        let layout = self.data.tables[table].layout.clone();
        for f in [layout.last_modified_date, layout.system_modstamp]
            .into_iter()
            .flatten()
        {
            draft.set(f, Value::DateTime(self.now));
        }
        if let Some(f) = layout.last_modified_by {
            draft.set(f, Value::Id(self.data.dev_user));
        }
        if let Some(sf) = layout.stage
            && given.contains(&sf.stage)
        {
            apply_stage(sf, &given, &mut draft);
        }
        if let Some((status, closed)) = layout.status_closed
            && given.contains(&status)
        {
            apply_status(&def.name, status, closed, &mut draft);
        }
        if let Some((name, parts)) = &layout.compound_name {
            compose_name(*name, parts, &mut draft);
        }
        self.check_required(&def, &draft, Some(&given))?;
        check_record_type(&def, &draft, &given)?;
        self.check_references(&def, &draft, &given)?;
        self.check_unique(table, &draft, Some(row))?;
        self.replace(
            table,
            row,
            Record {
                id: Value::Id(id),
                deleted: false,
                fields: draft.finish(),
            },
        );
        Ok(())
    }

    fn replace(&mut self, table: usize, row: RowId, new: Record) {
        let t = &mut self.data.tables[table];
        t.unindex_row(row);
        let old = std::mem::replace(&mut t.rows[row as usize], new);
        t.index_row(row);
        self.undo.push(Undo::Replaced { table, row, old });
        self.touched.push((table, row));
    }

    /// Moves the record `id` of the object at `table` to the recycle bin, with the children
    /// of cascade-delete relationships.
    ///
    /// # Errors
    /// 404 NOT_FOUND, 404 ENTITY_IS_DELETED.
    pub fn delete(&mut self, table: usize, id: Id) -> Result<(), ApiError> {
        let def = self.table_def(table).clone();
        let row = self.live_row(table, id)?;
        if !def.deletable {
            return Err(bad_request(
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be deleted: {}", def.label),
            ));
        }
        self.soft_delete(table, row);
        for rel in def.child_relationships.iter().filter(|r| r.cascade_delete) {
            let Some(ct) = self.data.table_index(&rel.child_object) else {
                continue;
            };
            let Some(cf) = self.data.tables[ct].def.field_index(&rel.field) else {
                continue;
            };
            let kids: Vec<(RowId, Id)> = self.data.tables[ct]
                .children(cf, id)
                .iter()
                .map(|&r| (r, self.data.tables[ct].rows[r as usize].clone()))
                .filter(|(_, rec)| !rec.deleted)
                .map(|(r, rec)| (r, rec.id()))
                .collect();
            for (_, kid) in kids {
                self.delete(ct, kid)?;
            }
        }
        Ok(())
    }

    fn soft_delete(&mut self, table: usize, row: RowId) {
        let t = &self.data.tables[table];
        let mut rec = t.rows[row as usize].clone();
        rec.deleted = true;
        if let Some(f) = t.layout.system_modstamp {
            let mut d = Draft::from_record(&rec);
            d.set(f, Value::DateTime(self.now));
            rec.fields = d.finish();
        }
        self.replace(table, row, rec);
    }

    /// The live records of `table` whose `field` matches `raw`: the upsert and get-by-external-id
    /// match (`Id` matches by id).
    pub fn matches(&self, table: usize, field: usize, raw: &str) -> Vec<Id> {
        find_matches(&self.data.tables[table], field, raw)
    }

    /// Upserts by `field` = `raw`: creates when nothing matches (setting `field` to `raw` unless
    /// the body sets it), updates the one match, or reports several matches.
    ///
    /// # Errors
    /// The create or update error.
    pub fn upsert(
        &mut self,
        table: usize,
        field: usize,
        raw: Option<&str>,
        body: &Map<String, J>,
    ) -> Result<Upserted, ApiError> {
        let matches = match raw {
            Some(raw) => self.matches(table, field, raw),
            None => Vec::new(),
        };
        match matches.as_slice() {
            [] => {
                let def = self.table_def(table);
                let fdef = &def.fields[field];
                let mut body = body.clone();
                if let Some(raw) = raw
                    && fdef.ty != FieldType::Id
                    && !body.keys().any(|k| k.eq_ignore_ascii_case(&fdef.name))
                {
                    body.insert(fdef.name.clone(), J::String(raw.to_owned()));
                }
                let body: Map<String, J> = if fdef.ty == FieldType::Id {
                    body.into_iter()
                        .filter(|(k, _)| !k.eq_ignore_ascii_case("Id"))
                        .collect()
                } else {
                    body
                };
                self.create(table, &body).map(Upserted::Created)
            }
            [one] => {
                let id = *one;
                self.update(table, id, body).map(|()| Upserted::Updated(id))
            }
            many => Ok(Upserted::Multiple(many.to_vec())),
        }
    }

    /// Inserts or replaces a whole record without validation (journal replay).
    pub(super) fn put_raw(&mut self, table: usize, record: Record) {
        self.note_explicit_id(record.id());
        let id = record.id();
        let row = match self.data.tables[table].row_of(id) {
            Some(row) => {
                self.replace(table, row, record);
                row
            }
            None => {
                let t = &mut self.data.tables[table];
                let row = t.rows.len() as RowId;
                t.rows.push(record);
                t.by_id.insert(id, row);
                t.index_row(row);
                self.undo.push(Undo::Created { table, row });
                row
            }
        };
        // Keep auto-numbers ahead of replayed values.
        let t = &mut self.data.tables[table];
        for slot in 0..t.layout.auto_numbers.len() {
            let f = usize::from(t.layout.auto_numbers[slot].0);
            if let Some(n) = t.rows[row as usize]
                .get(f)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                && n >= t.next_auto[slot]
            {
                t.next_auto[slot] = n + 1;
            }
        }
    }

    /// Forgets the undo log and touched records (journal replay needs neither).
    pub(super) fn settle(mut self) {
        self.undo.clear();
        self.touched.clear();
        self.committed = true;
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.rollback_to(Savepoint {
                undo: 0,
                touched: 0,
            });
        }
    }
}

/// The live records of `t` whose `field` matches `raw` (`Id` matches by id).
pub fn find_matches(t: &Table, field: usize, raw: &str) -> Vec<Id> {
    let Some(f) = t.def.fields.get(field) else {
        return Vec::new();
    };
    if f.ty == FieldType::Id {
        return Id::parse(raw)
            .ok()
            .and_then(|id| t.row_of(id))
            .map(|r| &t.rows[r as usize])
            .filter(|r| !r.deleted)
            .map(|r| vec![r.id()])
            .unwrap_or_default();
    }
    match t.lookup(field, raw) {
        Some(rows) => rows
            .iter()
            .map(|&r| &t.rows[r as usize])
            .filter(|r| !r.deleted)
            .map(Record::id)
            .collect(),
        None => t
            .rows
            .iter()
            .filter(|r| !r.deleted)
            .filter(|r| r.get(field).and_then(Value::as_str) == Some(raw))
            .map(Record::id)
            .collect(),
    }
}

/// The counter of an id minted by this org (`<prefix>0D0<counter>`), if it is one.
fn minted_counter(id: Id) -> Option<u64> {
    let s = id.as_str().as_bytes();
    if &s[3..6] != b"0D0" {
        return None;
    }
    s[6..15].iter().try_fold(0u64, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        acc.checked_mul(62)?.checked_add(u64::from(d))
    })
}

fn apply_stage(sf: StageFields, given: &[u16], draft: &mut Draft) {
    let Some(stage) = draft.get(sf.stage).and_then(Value::as_str) else {
        return;
    };
    let Some(st) = crate::schema::standard::stage_defaults(stage) else {
        // A non-standard stage (StageName is not restricted) is an open pipeline stage.
        if let Some(p) = sf.is_closed {
            draft.set(p, Value::Bool(false));
        }
        if let Some(p) = sf.is_won {
            draft.set(p, Value::Bool(false));
        }
        return;
    };
    let (prob, forecast, closed, won) = (
        f64::from(st.probability),
        st.forecast_category_name,
        st.closed,
        st.won,
    );
    if let Some(p) = sf.probability
        && !given.contains(&p)
    {
        draft.set(p, Value::Double(prob));
    }
    if let Some(p) = sf.forecast
        && !given.contains(&p)
    {
        draft.set(p, Value::Str(forecast.into()));
    }
    if let Some(p) = sf.is_closed {
        draft.set(p, Value::Bool(closed));
    }
    if let Some(p) = sf.is_won {
        draft.set(p, Value::Bool(won));
    }
}

/// `IsClosed` of a Case, Task or Lead follows its status.
fn apply_status(object: &str, status: u16, closed: u16, draft: &mut Draft) {
    let is_closed = draft
        .get(status)
        .and_then(Value::as_str)
        .is_some_and(|s| crate::schema::standard::is_closed_status(object, s));
    draft.set(closed, Value::Bool(is_closed));
}

fn compose_name(name: u16, parts: &[u16], draft: &mut Draft) {
    let joined: Vec<&str> = parts
        .iter()
        .filter_map(|p| draft.get(*p).and_then(Value::as_str))
        .collect();
    let v = if joined.is_empty() {
        Value::Null
    } else {
        Value::Str(joined.join(" ").into())
    };
    draft.set(name, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_counter_reads_back_the_counter() {
        let p = callforce_types::KeyPrefix::new("003").unwrap();
        for n in [0, 1, 61, 62, 123_456_789] {
            assert_eq!(minted_counter(Id::mint(p, n)), Some(n));
        }
        assert_eq!(
            minted_counter(Id::parse("003D000000QV9n2IAD").unwrap()),
            None
        );
    }
}
