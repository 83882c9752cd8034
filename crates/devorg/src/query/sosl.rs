//! SOSL: `FIND {term} IN ... FIELDS RETURNING ...` evaluated against the store.
//!
//! Matching rules (the dev org indexes synchronously, so a record is searchable at once):
//! - Field values and search words are split into tokens at every character that is not a letter
//!   or a digit, and compared ignoring case. A word matches when its tokens appear in a field
//!   consecutively (`sarah.johnson@acme.com` finds that email); a phrase likewise; a word with
//!   `*` or `?` matches single tokens by wildcard.
//! - Phone fields also match by number, whatever the format on either side: the digits of the
//!   word or phrase, normalised as the phone index does (a leading US `1` of 11 digits dropped),
//!   equal the field's normalised digits, or are their last 7+ digits. So
//!   `FIND {"+1 (555) 123-4567"} IN PHONE FIELDS` and `FIND {5551234567}` find a contact stored
//!   as `(555) 123-4567`.
//! - `IN NAME FIELDS` searches name fields (and first/last name and company), `EMAIL` email
//!   fields, `PHONE` phone fields, `ALL` (the default) every text field.
//! - Without `RETURNING`, every searchable object is searched and only `Id` is returned.

use callforce_soql as soql;
use serde_json::{Value as J, json};
use soql::{Search, SearchExpr, SearchGroup, SelectItem};

use super::{Compiler, Options, shape_nodes};
use crate::ApiError;
use crate::schema::{FieldType, ObjectDef};
use crate::store::{Data, RowId, Table};
use crate::value::{Value, normalise_phone};

/// The default and maximum number of records a search returns.
pub const MAX_RESULTS: usize = 2000;

/// Parses and runs a SOSL search, answering `{"searchRecords": [...]}`.
///
/// # Errors
/// `MALFORMED_SEARCH` for syntax errors, `INVALID_TYPE`/`INVALID_FIELD` for unknown names.
pub fn run(data: &Data, text: &str, opts: &Options) -> Result<J, ApiError> {
    let search = soql::parse_search(text).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "MALFORMED_SEARCH",
            e.salesforce_message(text),
        )
    })?;
    run_parsed(data, &search, text, opts)
}

/// Runs an already parsed search; `text` is used for error positions.
///
/// # Errors
/// As [`run`].
pub fn run_parsed(data: &Data, search: &Search, text: &str, opts: &Options) -> Result<J, ApiError> {
    let group = search.in_fields.unwrap_or(SearchGroup::All);
    let overall = search
        .limit
        .map_or(MAX_RESULTS, |l| (l as usize).min(MAX_RESULTS));
    let targets: Vec<soql::Returning> = if search.returning.is_empty() {
        data.tables()
            .iter()
            .filter(|t| t.def().searchable && !t.is_empty())
            .map(|t| soql::Returning::new(t.def().name.clone(), Vec::new()))
            .collect()
    } else {
        search.returning.clone()
    };
    let c = Compiler { data, text, opts };
    let mut out = Vec::new();
    for r in &targets {
        if out.len() >= overall {
            break;
        }
        let table = data
            .table_index(&r.object)
            .ok_or_else(|| super::invalid_type(text, &r.object))?;
        let t = &data.tables()[table];
        let mut q = soql::Query::new(
            if r.fields.is_empty() {
                vec![SelectItem::field(["Id"])]
            } else {
                r.fields.clone()
            },
            r.object.clone(),
        );
        q.filter = r.filter.clone();
        q.order_by = r.order_by.clone();
        q.limit = r.limit;
        q.offset = r.offset;
        let compiled = c.compile(&q)?;
        let fields = searched_fields(t.def(), group);
        let mut rows: Vec<RowId> = compiled
            .matching_rows(data, t, None, opts)
            .into_iter()
            .filter(|&row| term_matches(&search.term, t, row, &fields))
            .collect();
        rows = compiled.page(rows);
        rows.truncate(overall - out.len());
        out.extend(
            rows.into_iter()
                .map(|row| J::Object(shape_nodes(&compiled.nodes, data, t, row, opts, true))),
        );
    }
    Ok(json!({ "searchRecords": out }))
}

/// The positions and types of the fields a search group covers on an object.
fn searched_fields(def: &ObjectDef, group: SearchGroup) -> Vec<(usize, FieldType)> {
    let name_like = [
        "Name",
        "FirstName",
        "LastName",
        "Company",
        "Title",
        "Subject",
        "CaseNumber",
    ];
    def.fields
        .iter()
        .enumerate()
        .filter(|(_, f)| match group {
            SearchGroup::Email => f.ty == FieldType::Email,
            SearchGroup::Phone => f.ty == FieldType::Phone,
            SearchGroup::Name => {
                f.name_field || name_like.iter().any(|n| f.name.eq_ignore_ascii_case(n))
            }
            SearchGroup::All | SearchGroup::Sidebar => matches!(
                f.ty,
                FieldType::String
                    | FieldType::TextArea
                    | FieldType::Email
                    | FieldType::Phone
                    | FieldType::Url
                    | FieldType::Picklist
                    | FieldType::MultiPicklist
                    | FieldType::Combobox
            ),
        })
        .map(|(i, f)| (i, f.ty))
        .collect()
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn contains_run(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn phone_matches(query: &str, stored: &str) -> bool {
    let q = normalise_phone(query);
    let s = normalise_phone(stored);
    q.len() >= 7 && !s.is_empty() && (q == s || s.ends_with(q.as_str()))
}

fn term_matches(term: &SearchExpr, t: &Table, row: RowId, fields: &[(usize, FieldType)]) -> bool {
    match term {
        SearchExpr::And(ts) => ts.iter().all(|x| term_matches(x, t, row, fields)),
        SearchExpr::Or(ts) => ts.iter().any(|x| term_matches(x, t, row, fields)),
        SearchExpr::AndNot(a, b) => {
            term_matches(a, t, row, fields) && !term_matches(b, t, row, fields)
        }
        SearchExpr::Phrase(p) => leaf_matches(p, None, t, row, fields),
        SearchExpr::Word(w) => match w.text() {
            Some(text) => leaf_matches(text, None, t, row, fields),
            None => leaf_matches("", Some(w), t, row, fields),
        },
    }
}

fn leaf_matches(
    text: &str,
    wild: Option<&soql::SearchWord>,
    t: &Table,
    row: RowId,
    fields: &[(usize, FieldType)],
) -> bool {
    let needle = tokens(text);
    fields.iter().any(|&(pos, ty)| {
        let Some(Value::Str(s)) = t.value(row, pos) else {
            return false;
        };
        if let Some(w) = wild {
            return tokens(s).iter().any(|tok| w.matches(tok));
        }
        (ty == FieldType::Phone && phone_matches(text, s)) || contains_run(&tokens(s), &needle)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_matching_ignores_format() {
        let cases = [
            ("+15551234567", "(555) 123-4567", true),
            ("5551234567", "+1 555 123 4567", true),
            ("1234567", "(555) 123-4567", true),
            ("123-4567", "(555) 123-4567", true),
            ("4567", "(555) 123-4567", false),
            ("+15551234568", "(555) 123-4567", false),
            ("+442079460958", "+44 20 7946 0958", true),
        ];
        for (q, s, want) in cases {
            assert_eq!(phone_matches(q, s), want, "{q} vs {s}");
        }
    }

    #[test]
    fn words_match_consecutive_tokens() {
        let hay = tokens("sarah.johnson@acme.com");
        assert!(contains_run(&hay, &tokens("sarah.johnson@acme.com")));
        assert!(contains_run(&hay, &tokens("Johnson")));
        assert!(!contains_run(&hay, &tokens("john")));
        assert!(!contains_run(&hay, &tokens("")));
    }
}
