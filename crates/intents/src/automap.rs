//! Auto-mapping: each declared variable onto the type-compatible field of the org whose name or
//! label is closest, with what could not be mapped and why.
//!
//! Names are compared normalised (lower case, `__c` dropped, camel case and punctuation split
//! into words joined by `_`), by Jaro-Winkler similarity against both the API name and the
//! label. Only fields the connected user can write and whose type fits the variable's type are
//! candidates; among equally close fields the better type wins (a `datetime` variable prefers a
//! datetime field), and a tie between two fields is reported rather than guessed.

use std::collections::BTreeMap;

use callforce_client::describe::FieldDescribe;
use serde::{Deserialize, Serialize};

use crate::describes::Describes;
use crate::map::{Intent, IntentMap, Source, Target, VarDecl, Write};

/// The least similarity (0 to 1) a name must have to be proposed.
pub const THRESHOLD: f64 = 0.88;

/// One variable mapped onto a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// The variable.
    pub variable: String,
    /// The object.
    pub object: String,
    /// The field's API name.
    pub field: String,
    /// The field's label.
    pub label: String,
    /// The field's type.
    pub field_type: String,
    /// How close the names are (0 to 1).
    pub score: f64,
}

/// A variable that could not be mapped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    /// The variable.
    pub variable: String,
    /// Why, and what to do.
    pub reason: String,
}

/// The proposed mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Variables mapped, in name order.
    pub mapped: Vec<Mapping>,
    /// Variables not mapped, in name order.
    pub unmapped: Vec<Unmapped>,
}

impl Proposal {
    /// The proposal as an intent map: one intent per mapped variable (named after it) that
    /// writes the model's argument of the same name to the call's last record of the object.
    pub fn to_map(&self, variables: &BTreeMap<String, VarDecl>) -> IntentMap {
        let mut intents = BTreeMap::new();
        for m in &self.mapped {
            let mut fields = BTreeMap::new();
            fields.insert(m.field.clone(), Source::Arg(m.variable.clone()));
            intents.insert(
                m.variable.clone(),
                Intent {
                    description: variables
                        .get(&m.variable)
                        .and_then(|d| d.description.clone()),
                    writes: vec![Write {
                        object: m.object.clone(),
                        record: Target::Var(format!("last.{}.Id", m.object)),
                        reference: None,
                        record_type: None,
                        fields,
                    }],
                },
            );
        }
        IntentMap {
            variables: variables
                .iter()
                .filter(|(k, _)| self.mapped.iter().any(|m| &m.variable == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            intents,
        }
    }
}

/// `Demo_Requested_At__c`, `Demo Requested At`, `demoRequestedAt` -> `demo_requested_at`.
pub fn normalise(s: &str) -> String {
    let s = s.strip_suffix("__c").unwrap_or(s);
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn similarity(var: &str, f: &FieldDescribe) -> f64 {
    let n = normalise(&f.name);
    let l = normalise(&f.label);
    strsim::jaro_winkler(var, &n).max(strsim::jaro_winkler(var, &l))
}

/// The variable's name as written and without leading words of the object's name
/// (`call_recording_url` on `Call_Recording__c` is also read as `url`, `recording_url`).
fn readings(var: &str, object: &str) -> Vec<String> {
    let obj = normalise(object);
    let words: Vec<&str> = obj.split('_').collect();
    let mut out = vec![var.to_owned()];
    let mut rest = var;
    while let Some((head, tail)) = rest.split_once('_') {
        if !words.contains(&head) {
            break;
        }
        out.push(tail.to_owned());
        rest = tail;
    }
    out
}

/// Proposes a field for each of `variables`, among the fields of its own `object` when it names
/// one, else of every object in `objects`.
pub fn automap(
    variables: &BTreeMap<String, VarDecl>,
    objects: &[&str],
    describes: &Describes,
) -> Proposal {
    let mut p = Proposal::default();
    for (name, decl) in variables {
        let scope: Vec<&str> = match &decl.object {
            Some(o) => vec![o.as_str()],
            None => objects.to_vec(),
        };
        match one(name, decl, &scope, describes) {
            Ok(m) => p.mapped.push(m),
            Err(reason) => p.unmapped.push(Unmapped {
                variable: name.clone(),
                reason,
            }),
        }
    }
    p
}

fn one(name: &str, decl: &VarDecl, scope: &[&str], d: &Describes) -> Result<Mapping, String> {
    let var = normalise(name);
    let types = decl.ty.field_types();
    // (score, type rank, object, field)
    let mut best: Vec<(f64, usize, &str, &FieldDescribe)> = Vec::new();
    let mut best_any: Option<(f64, &str, &FieldDescribe)> = None;
    let mut described = 0;
    for o in scope {
        let Some(obj) = d.object(o) else { continue };
        described += 1;
        let readings = readings(&var, &obj.name);
        for f in &obj.fields {
            if !(f.createable || f.updateable) {
                continue;
            }
            let s = readings
                .iter()
                .map(|v| similarity(v, f))
                .fold(0.0, f64::max);
            if best_any.is_none_or(|(b, _, _)| s > b) {
                best_any = Some((s, obj.name.as_str(), f));
            }
            if !decl.ty.fits(&f.type_, &f.reference_to) {
                continue;
            }
            let rank = types
                .iter()
                .position(|t| *t == f.type_)
                .unwrap_or(types.len());
            best.push((s, rank, obj.name.as_str(), f));
        }
    }
    if described == 0 {
        return Err(format!(
            "the org has none of the objects to map onto ({}); set \"object\" to one it has",
            scope.join(", ")
        ));
    }
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let Some(&(score, rank, object, f)) = best.first() else {
        return Err(format!(
            "no writable field of a type that takes {} on {}",
            decl.ty,
            scope.join(", ")
        ));
    };
    if score < THRESHOLD {
        if let Some((s, o, any)) = best_any
            && s >= THRESHOLD
        {
            return Err(format!(
                "the closest field by name, {o}.{} ({}), is a {} field and cannot take a {} \
                 value; change the variable's type or map it by hand",
                any.name, any.label, any.type_, decl.ty
            ));
        }
        return Err(format!(
            "no field name is close enough (closest field taking {}: {object}.{}, similarity \
             {score:.2}); name the variable after the field or map it by hand",
            decl.ty, f.name
        ));
    }
    if let Some(&(s2, r2, o2, f2)) = best.get(1)
        && (score - s2).abs() < 1e-9
        && rank == r2
    {
        return Err(format!(
            "{object}.{} and {o2}.{} match equally; set the variable's \"object\"",
            f.name, f2.name
        ));
    }
    Ok(Mapping {
        variable: name.to_owned(),
        object: object.to_owned(),
        field: f.name.clone(),
        label: f.label.clone(),
        field_type: f.type_.clone(),
        score: (score * 1000.0).round() / 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_to_snake_case() {
        for (given, want) in [
            ("Demo_Requested_At__c", "demo_requested_at"),
            ("Demo Requested At", "demo_requested_at"),
            ("demoRequestedAt", "demo_requested_at"),
            ("NPS_Score__c", "nps_score"),
            ("LinkedIn Page", "linked_in_page"),
            ("  Lead -- Score ", "lead_score"),
            ("AI_Summary__c", "ai_summary"),
        ] {
            assert_eq!(normalise(given), want, "{given}");
        }
    }
}
