//! The check before go-live: an intent map against the org's describe. Every problem is
//! reported at once, each with the fix, so nothing fails mid-call that the check could have
//! caught.
//!
//! What is checked, per write: the object exists and the connected user may create or update
//! it; per field: it exists (with the closest name when it does not), it may be set on create or
//! update, the value's source fits its type (a constant is coerced exactly as at call time, so a
//! wrong picklist value or a malformed id is caught here; `now` only on date and datetime
//! fields; a declared argument or variable type must fit the field); per created record: every
//! required field is set. Names of intents and arguments must be valid tool names.

use std::collections::HashMap;

use callforce_actions::suggest::closest;
use callforce_client::describe::{FieldDescribe, SObjectDescribe};
use chrono::{DateTime, Utc};

use crate::coerce::coerce;
use crate::describes::Describes;
use crate::map::{IntentMap, Source, Target, VarType, Write};
pub use crate::report::{Code, Problem, Report, Severity};

/// The most writes an intent may have (one composite request takes 25 subrequests).
pub const MAX_WRITES: usize = 25;

/// Whether `s` may name an intent or an argument: `[a-z][a-z0-9_]*`, at most 64 characters.
pub fn valid_name(s: &str) -> bool {
    s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The type of a call variable path, when callforce knows it or the map declares it.
pub fn var_type(map: &IntentMap, path: &str) -> Option<VarType> {
    if let Some(d) = map.variables.get(path) {
        return Some(d.ty.clone());
    }
    match path {
        "caller_phone" => return Some(VarType::Phone),
        "call_id" | "agent" | "employee_id" | "time_zone" => return Some(VarType::Text),
        "now" => return Some(VarType::Datetime),
        "today" => return Some(VarType::Date),
        _ => {}
    }
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["last", object, id] if id.eq_ignore_ascii_case("id") => {
            Some(VarType::Id(Some((*object).to_owned())))
        }
        [.., id] if parts.len() > 1 && id.eq_ignore_ascii_case("id") => Some(VarType::Id(None)),
        _ => None,
    }
}

struct Checker<'a> {
    map: &'a IntentMap,
    d: &'a Describes,
    problems: Vec<Problem>,
    fields: usize,
    // A fixed instant: constants are coerced only to see whether they fit.
    now: DateTime<Utc>,
    // The record type of the write being checked, and whether it is the default one a create
    // without `record_type` gets.
    record_type: Option<String>,
    default_record_type: bool,
}

impl<'a> Checker<'a> {
    fn push(&mut self, code: Code, path: &str, message: String, fix: String) {
        let severity = match code {
            Code::UncheckedType => Severity::Warning,
            _ => Severity::Error,
        };
        self.problems.push(Problem {
            severity,
            code,
            path: path.to_owned(),
            message,
            fix,
        });
    }

    fn object(&mut self, path: &str, name: &str) -> Option<&'a SObjectDescribe> {
        let d: &'a Describes = self.d;
        if let Some(o) = d.object(name) {
            return Some(o);
        }
        let names = d.object_names();
        let fix = match closest(name, names.iter().copied()) {
            Some(c) => format!("use {c:?}"),
            None => "use an object the org has (API name, such as \"Opportunity\")".into(),
        };
        self.push(
            Code::UnknownObject,
            path,
            format!("the org has no object {name:?}"),
            fix,
        );
        None
    }

    fn intent(&mut self, name: &str, writes: &[Write]) {
        let base = format!("intents.{name}");
        if !valid_name(name) {
            self.push(
                Code::InvalidName,
                &base,
                format!("{name:?} is not a valid intent name"),
                "use lower case letters, digits and underscores, starting with a letter \
                 (at most 64), such as \"demo_requested\""
                    .into(),
            );
        }
        if writes.is_empty() {
            self.push(
                Code::Empty,
                &base,
                "the intent writes nothing".into(),
                "add a write (\"object\", \"record\", \"fields\") or remove the intent".into(),
            );
        }
        if writes.len() > MAX_WRITES {
            self.push(
                Code::TooManyWrites,
                &base,
                format!(
                    "{} writes; one composite request takes {MAX_WRITES}",
                    writes.len()
                ),
                "split the intent in two".into(),
            );
        }
        // ref name -> object of the create that defines it, for later writes.
        let mut refs: HashMap<&str, &str> = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            let wpath = format!("{base}.writes[{i}]");
            self.write(&wpath, w, &refs);
            if let Some(r) = &w.reference {
                if w.record == Target::Create {
                    refs.insert(r.as_str(), w.object.as_str());
                } else {
                    self.push(
                        Code::UnknownReference,
                        &format!("{wpath}.ref"),
                        format!("\"ref\": {r:?} is on a write that updates; only a create makes a new id"),
                        "remove \"ref\", or make the write \"record\": \"create\"".into(),
                    );
                }
            }
        }
    }

    fn write(&mut self, wpath: &str, w: &Write, refs: &HashMap<&str, &str>) {
        let create = w.record == Target::Create;
        if w.fields.is_empty() {
            self.push(
                Code::Empty,
                &format!("{wpath}.fields"),
                "the write sets no field".into(),
                "add at least one field".into(),
            );
        }
        for (name, src) in &w.fields {
            if let Source::Arg(a) = src
                && !valid_name(a)
            {
                self.push(
                    Code::InvalidName,
                    &format!("{wpath}.fields.{name}"),
                    format!("{a:?} is not a valid argument name"),
                    "use lower case letters, digits and underscores, starting with a letter".into(),
                );
            }
        }
        if let Target::Arg(a) = &w.record
            && !valid_name(a)
        {
            self.push(
                Code::InvalidName,
                &format!("{wpath}.record"),
                format!("{a:?} is not a valid argument name"),
                "use lower case letters, digits and underscores, starting with a letter".into(),
            );
        }
        self.fields += w.fields.len();
        let Some(obj) = self.object(&format!("{wpath}.object"), &w.object) else {
            return;
        };
        if create && !obj.createable {
            self.push(
                Code::NotCreateable,
                &format!("{wpath}.object"),
                format!("the connected user cannot create {} records", obj.name),
                format!(
                    "grant Create on {} to the connected user, or update an existing record",
                    obj.name
                ),
            );
        }
        if !create && !obj.updateable {
            self.push(
                Code::NotUpdateable,
                &format!("{wpath}.object"),
                format!("the connected user cannot update {} records", obj.name),
                format!("grant Edit on {} to the connected user", obj.name),
            );
        }
        if let Target::Var(path) = &w.record {
            self.target_var(wpath, obj, path);
        }
        self.record_type = crate::describes::write_record_type(obj, w)
            .filter(|_| w.record_type.is_none())
            .map(str::to_owned);
        self.default_record_type = self.record_type.is_some();
        if let Some(rt) = &w.record_type {
            match obj.record_type(rt) {
                Some(r) => self.record_type = Some(r.developer_name.clone()),
                None => {
                    let names: Vec<&str> = obj
                        .record_type_infos
                        .iter()
                        .filter(|r| !r.master && r.active)
                        .map(|r| r.developer_name.as_str())
                        .collect();
                    let fix = if names.is_empty() {
                        format!("remove \"record_type\": {} has no record types", obj.name)
                    } else {
                        match closest(rt, names.iter().copied()) {
                            Some(c) => format!(
                                "use \"record_type\": {c:?} (record types of {}: {})",
                                obj.name,
                                names.join(", ")
                            ),
                            None => format!(
                                "use one of {}'s record types: {}",
                                obj.name,
                                names.join(", ")
                            ),
                        }
                    };
                    self.push(
                        Code::UnknownRecordType,
                        &format!("{wpath}.record_type"),
                        format!("{} has no record type {rt:?}", obj.name),
                        fix,
                    );
                }
            }
        }
        for (name, src) in &w.fields {
            let fpath = format!("{wpath}.fields.{name}");
            let Some(f) = obj.field(name) else {
                let candidates = obj
                    .fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .chain(obj.fields.iter().map(|f| f.label.as_str()));
                let fix = match closest(name, candidates) {
                    Some(c) => {
                        let api = obj
                            .fields
                            .iter()
                            .find(|f| f.name == c || f.label == c)
                            .map_or(c, |f| f.name.as_str());
                        format!("use {}.{api}", obj.name)
                    }
                    None => format!(
                        "create the field on {} or remove it from the intent",
                        obj.name
                    ),
                };
                self.push(
                    Code::UnknownField,
                    &fpath,
                    format!("{} has no field {name:?}", obj.name),
                    fix,
                );
                continue;
            };
            let d = self.d;
            let f = d.field_in(obj, f, self.record_type.as_deref());
            self.field(&fpath, obj, &f, src, create, refs);
        }
        if create {
            let missing: Vec<&str> = obj
                .required_on_create()
                .filter(|f| !w.fields.keys().any(|k| k.eq_ignore_ascii_case(&f.name)))
                .map(|f| f.name.as_str())
                .collect();
            if !missing.is_empty() {
                self.push(
                    Code::RequiredFieldMissing,
                    &format!("{wpath}.fields"),
                    format!(
                        "a new {} needs {} and the write does not set {}",
                        obj.name,
                        missing.join(", "),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                    format!(
                        "add {} to the write's fields (a constant, a variable or an argument)",
                        missing.join(", ")
                    ),
                );
            }
        }
    }

    fn target_var(&mut self, wpath: &str, obj: &SObjectDescribe, path: &str) {
        match var_type(self.map, path) {
            Some(VarType::Id(Some(o))) if !o.eq_ignore_ascii_case(&obj.name) => self.push(
                Code::TypeMismatch,
                &format!("{wpath}.record"),
                format!(
                    "{path:?} holds the id of a {o}, but the write updates a {}",
                    obj.name
                ),
                format!(
                    "use \"last.{}.Id\" or another variable holding a {} id",
                    obj.name, obj.name
                ),
            ),
            Some(VarType::Id(_)) => {}
            Some(t) => self.push(
                Code::TypeMismatch,
                &format!("{wpath}.record"),
                format!("{path:?} is declared as {t}, not a record id"),
                format!(
                    "declare it as \"id:{}\" or target another variable",
                    obj.name
                ),
            ),
            None => self.push(
                Code::UncheckedType,
                &format!("{wpath}.record"),
                format!(
                    "the type of {path:?} is unknown, so it cannot be checked to hold a {} id",
                    obj.name
                ),
                format!("declare it in \"variables\" as \"id:{}\"", obj.name),
            ),
        }
    }

    fn field(
        &mut self,
        fpath: &str,
        obj: &SObjectDescribe,
        f: &FieldDescribe,
        src: &Source,
        create: bool,
        refs: &HashMap<&str, &str>,
    ) {
        let full = format!("{}.{}", obj.name, f.name);
        if VarType::of_field(&f.type_, &f.reference_to).is_none() {
            self.push(
                Code::UnsupportedField,
                fpath,
                format!("{full} is a {} field, which intents cannot write", f.type_),
                "write a text, number, date, picklist, boolean or lookup field instead".into(),
            );
            return;
        }
        if create && !f.createable {
            self.push(
                Code::NotCreateable,
                fpath,
                format!("{full} cannot be set when a {} is created", obj.name),
                "remove it from the create, or grant the connected user edit access \
                 (field-level security)"
                    .into(),
            );
        }
        if !create && !f.updateable {
            self.push(
                Code::NotUpdateable,
                fpath,
                format!("{full} cannot be updated (read-only or no edit access)"),
                "remove it from the intent, write another field, or grant the connected user \
                 edit access (field-level security)"
                    .into(),
            );
        }
        match src {
            Source::Const(v) => {
                if let Err(e) = coerce(&obj.name, f, v, self.now, callforce_actions::zone::Tz::UTC, self.d) {
                    let code = match f.type_.as_str() {
                        "picklist" | "multipicklist" => Code::InvalidPicklistValue,
                        "reference" | "id" => Code::MalformedId,
                        _ => Code::TypeMismatch,
                    };
                    let picklist = code == Code::InvalidPicklistValue;
                    match self.record_type.clone() {
                        Some(rt) if picklist && self.default_record_type => self.push(
                            code,
                            fpath,
                            format!(
                                "under record type {rt} (the one a new {} gets when none is given), {e}",
                                obj.name
                            ),
                            format!(
                                "change the constant to a value record type {rt} offers, or give \
                                 the write the \"record_type\" the record should have"
                            ),
                        ),
                        Some(rt) if picklist => self.push(
                            code,
                            fpath,
                            format!("under record type {rt}, {e}"),
                            format!(
                                "change the constant to a value record type {rt} offers, or write \
                                 the record with another \"record_type\""
                            ),
                        ),
                        _ => self.push(
                            code,
                            fpath,
                            e,
                            "change the constant to a value the field takes".into(),
                        ),
                    }
                }
            }
            Source::Now => {
                if !matches!(f.type_.as_str(), "date" | "datetime") {
                    self.push(
                        Code::TypeMismatch,
                        fpath,
                        format!("\"now\" is a time but {full} is a {} field", f.type_),
                        "use \"now\" on a date or datetime field only".into(),
                    );
                }
            }
            Source::Arg(name) => {
                if let Some(d) = self.map.variables.get(name) {
                    self.fits(fpath, &full, f, &format!("argument {name:?}"), &d.ty.clone());
                }
            }
            Source::Var(path) => match var_type(self.map, path) {
                Some(t) => self.fits(fpath, &full, f, &format!("variable {path:?}"), &t),
                None => self.push(
                    Code::UncheckedType,
                    fpath,
                    format!("the type of variable {path:?} is unknown, so it cannot be checked against {full}"),
                    format!(
                        "declare it in \"variables\" (such as \"{}\")",
                        VarType::of_field(&f.type_, &f.reference_to).map_or("text".into(), |t| t.to_string())
                    ),
                ),
            },
            Source::Ref(r) => match refs.get(r.as_str()) {
                None => self.push(
                    Code::UnknownReference,
                    fpath,
                    format!("no earlier write of this intent creates a record with \"ref\": {r:?}"),
                    "add \"ref\" to an earlier create, or fix the name".into(),
                ),
                Some(o) => {
                    let t = VarType::Id(Some((*o).to_owned()));
                    self.fits(fpath, &full, f, &format!("ref {r:?}"), &t);
                }
            },
        }
    }

    fn fits(&mut self, fpath: &str, full: &str, f: &FieldDescribe, what: &str, t: &VarType) {
        if t.fits(&f.type_, &f.reference_to) {
            return;
        }
        let natural = VarType::of_field(&f.type_, &f.reference_to)
            .map_or_else(|| f.type_.clone(), |t| t.to_string());
        let detail = if f.type_ == "reference" {
            format!(" pointing at {}", f.reference_to.join(" or "))
        } else {
            String::new()
        };
        self.push(
            Code::TypeMismatch,
            fpath,
            format!("{what} is {t} but {full} is a {} field{detail}", f.type_),
            format!("map {what} to a field that takes {t}, or write {full} from a {natural} value"),
        );
    }
}

/// Checks `map` against the org's describes: every problem, each with its fix.
pub fn check(map: &IntentMap, describes: &Describes) -> Report {
    let mut c = Checker {
        map,
        d: describes,
        problems: Vec::new(),
        fields: 0,
        now: DateTime::UNIX_EPOCH,
        record_type: None,
        default_record_type: false,
    };
    if map.intents.is_empty() {
        c.push(
            Code::Empty,
            "intents",
            "the map has no intent".into(),
            "add one, such as {\"qualified\": \"Lead.Status\"}".into(),
        );
    }
    for (name, intent) in &map.intents {
        c.intent(name, &intent.writes);
    }
    c.problems.sort_by_key(|p| p.severity != Severity::Error);
    Report {
        ok: !c.problems.iter().any(|p| p.severity == Severity::Error),
        intents: map.intents.len(),
        fields: c.fields,
        problems: c.problems,
    }
}
