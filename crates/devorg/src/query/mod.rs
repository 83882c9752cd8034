//! The query engine: SOQL evaluated against the store, shaped as Salesforce shapes results.
//!
//! A query is parsed by `callforce-soql`, then *compiled* against the schema ([`compile`]): every
//! field path is resolved to field positions, every literal is checked against its field's type
//! and converted to the store's representation, and semi-joins are run once. Errors found there are
//! Salesforce's (`INVALID_TYPE`, `INVALID_FIELD`, `MALFORMED_QUERY`, `INVALID_QUERY_FILTER_OPERATOR`)
//! with its `ERROR at Row:R:Column:C` text. The compiled query is then run under one read guard:
//!
//! - **Candidates.** Equality (`=`, `IN`) on an indexed field (Id, External ID and unique fields,
//!   phone, email and name fields, references) is answered from the store's indexes, through
//!   `AND` (the smallest candidate set) and `OR` (the union of its branches' sets); anything else
//!   scans the table. Candidates are a superset (the indexes normalise keys); the full condition
//!   is always evaluated on each.
//! - **Filter, order, limit**, then **shaping**: `attributes`, parent objects nested (null when the
//!   lookup is empty), child subqueries as nested query results (null when empty), aggregate rows
//!   as `AggregateResult` without a url.
//!
//! String comparisons ignore case, as Salesforce's do. Phone equality in SOQL is exact (as in
//! Salesforce); SOSL's `IN PHONE FIELDS` matches numbers whatever their format ([`sosl`]).
//!
//! What the engine does not evaluate (TYPEOF, date functions, GROUP BY ROLLUP/CUBE, ...) is refused
//! with an error rather than answered wrongly.

pub mod cursor;
pub mod sosl;

use std::cmp::Ordering;
use std::collections::HashSet;

use axum::http::StatusCode;
use callforce_soql as soql;
use callforce_types::{ApiVersion, Id};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as J, json};
use soql::{CompareOp, Condition, Expr, FieldsKind, LikeValue, Query, SelectItem};

use crate::ApiError;
use crate::schema::{FieldDef, FieldType, ObjectDef};
use crate::store::{Data, RowId, Table};
use crate::value::{self, Value};

/// How a query runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `queryAll`: include records in the recycle bin.
    pub all_rows: bool,
    /// The API version of the request (it appears in `attributes.url`).
    pub version: ApiVersion,
    /// The instant date literals are evaluated against.
    pub now: DateTime<Utc>,
}

/// What a query produced, before paging.
#[derive(Debug)]
pub enum Output {
    /// Record rows of `object`, in result order; shaped page by page with [`shape_rows`].
    Rows {
        /// The table's position in the store.
        table: usize,
        /// The matching rows.
        rows: Vec<RowId>,
    },
    /// Already shaped records (aggregate results).
    Shaped(Vec<J>),
    /// `SELECT COUNT()`: only a count.
    Count(usize),
}

/// A query parsed and compiled against the schema: run it once, shape any of its rows.
#[derive(Debug)]
pub struct Prepared(Compiled);

/// Parses and compiles `text` against the schema of `data`.
///
/// # Errors
/// Salesforce's query errors (400) for malformed queries, unknown objects and fields, literals of
/// the wrong type, and what the engine does not evaluate.
pub fn prepare(data: &Data, text: &str, opts: &Options) -> Result<Prepared, ApiError> {
    let q = soql::parse_query(text).map_err(|e| parse_error(&e, text))?;
    Compiler { data, text, opts }.compile(&q).map(Prepared)
}

impl Prepared {
    /// Runs the query: the matching rows (or aggregate records, or a count).
    ///
    /// # Errors
    /// None today; kept for evaluation errors.
    pub fn execute(&self, data: &Data, opts: &Options) -> Result<Output, ApiError> {
        self.0.execute(data, opts)
    }

    /// Shapes `rows` of the table at `table` as this query selects them.
    pub fn shape(&self, data: &Data, opts: &Options, table: usize, rows: &[RowId]) -> Vec<J> {
        let Some(t) = data.table_at(table) else {
            return Vec::new();
        };
        rows.iter()
            .map(|&r| self.0.shape(data, t, r, opts))
            .collect()
    }
}

/// The 400 answer for a parse error: `MALFORMED_QUERY` (or `MALFORMED_SEARCH`) with the position.
pub fn parse_error(e: &soql::ParseError, text: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        e.error_code(),
        e.salesforce_message(text),
    )
}

/// A 400 error with Salesforce's `ERROR at Row:R:Column:C` preamble, pointing at `needle` in the
/// query text (the first occurrence, case-insensitively; the start when absent).
pub fn located(code: &str, text: &str, needle: &str, detail: &str) -> ApiError {
    let offset = find_ci(text, needle).unwrap_or(0);
    let pos = soql::Position::at(text, offset);
    let line = text.lines().nth(pos.row.saturating_sub(1)).unwrap_or("");
    let caret = " ".repeat(pos.column.saturating_sub(1));
    ApiError::new(
        StatusCode::BAD_REQUEST,
        code,
        format!(
            "\n{line}\n{caret}^\nERROR at Row:{}:Column:{}\n{detail}",
            pos.row, pos.column
        ),
    )
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let h = hay.to_ascii_lowercase();
    let n = needle.to_ascii_lowercase();
    let bytes = h.as_bytes();
    let mut from = 0;
    while let Some(i) = h[from..].find(&n) {
        let at = from + i;
        let before_ok = at == 0 || !is_ident(bytes[at - 1]);
        let after = at + n.len();
        let after_ok = after >= bytes.len() || !is_ident(bytes[after]);
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + 1;
    }
    h.find(&n)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn invalid_type(text: &str, object: &str) -> ApiError {
    located(
        "INVALID_TYPE",
        text,
        object,
        &format!(
            "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to \
             append the '__c' after the entity name. Please reference your WSDL or the describe call for the \
             appropriate names."
        ),
    )
}

fn no_such_column(text: &str, path: &str, field: &str, object: &str) -> ApiError {
    located(
        "INVALID_FIELD",
        text,
        path,
        &format!(
            "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure \
             to append the '__c' after the custom field name. Please reference your WSDL or the describe call for \
             the appropriate names."
        ),
    )
}

fn bad_relationship(text: &str, path: &str, rel: &str) -> ApiError {
    located(
        "INVALID_FIELD",
        text,
        path,
        &format!(
            "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom \
             relationship, be sure to append the '__r' after the custom relationship name. Please reference your \
             WSDL or the describe call for the appropriate names."
        ),
    )
}

fn unsupported(text: &str, needle: &str, what: &str) -> ApiError {
    located(
        "MALFORMED_QUERY",
        text,
        needle,
        &format!("{what} is not supported by the dev org"),
    )
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/// A resolved field path: relationship hops, then a field.
#[derive(Debug, Clone)]
struct Path {
    /// The path as written (for error messages and output names).
    written: String,
    /// Each hop: the reference field's name on the object at that level, and its position when
    /// that object is known statically (not after a polymorphic hop).
    hops: Vec<(String, Option<usize>)>,
    /// The final field's canonical name and its static position.
    field: String,
    field_pos: Option<usize>,
    /// The final field's definition (from the first object that has it).
    def: FieldDef,
}

#[derive(Debug, Clone)]
enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Text(String),
    Id(Id),
    Date(i32),
    DateTime(i64),
    /// A date literal's range: `[start, end)` as days and as milliseconds.
    Range {
        days: (i32, i32),
        ms: (i64, i64),
    },
}

#[derive(Debug)]
enum Cond {
    Cmp {
        path: Path,
        op: CompareOp,
        lit: Lit,
    },
    Like {
        path: Path,
        pattern: Like,
    },
    In {
        path: Path,
        negated: bool,
        lits: Vec<Lit>,
    },
    InSet {
        path: Path,
        negated: bool,
        ids: HashSet<Id>,
    },
    Includes {
        path: Path,
        excludes: bool,
        sets: Vec<Vec<String>>,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

/// What one select item becomes in the output.
#[derive(Debug)]
enum Node {
    /// A field of the record at this level (`name` canonical).
    Field {
        name: String,
        pos: Option<usize>,
        label: bool,
    },
    /// A parent object reached through the reference field `ref_field` (`rel` canonical).
    Parent {
        rel: String,
        ref_field: String,
        ref_pos: Option<usize>,
        nodes: Vec<Node>,
    },
    /// A child subquery.
    Child { rel: String, query: Box<Compiled> },
}

#[derive(Debug, Clone)]
struct OrderKey {
    path: Path,
    desc: bool,
    nulls_first: bool,
}

/// A compiled (non-aggregate or aggregate) query.
#[derive(Debug)]
struct Compiled {
    table: usize,
    nodes: Vec<Node>,
    filter: Option<Cond>,
    order: Vec<OrderKey>,
    limit: Option<usize>,
    offset: usize,
    count_only: bool,
    aggregate: Option<Aggregate>,
    /// For a child subquery: the child's reference field pointing at the parent.
    parent_field: Option<usize>,
}

#[derive(Debug)]
struct Aggregate {
    groups: Vec<Path>,
    /// Output columns: name and what they compute.
    columns: Vec<(String, Column)>,
    having: Option<HavingCond>,
    order: Vec<(Column, bool, bool)>,
}

#[derive(Debug, Clone)]
enum Column {
    Group(usize),
    Agg(soql::Aggregate, Option<Box<Path>>),
}

#[derive(Debug)]
enum HavingCond {
    Cmp {
        col: Column,
        op: CompareOp,
        lit: Lit,
    },
    And(Vec<HavingCond>),
    Or(Vec<HavingCond>),
    Not(Box<HavingCond>),
}

struct Compiler<'a> {
    data: &'a Data,
    text: &'a str,
    opts: &'a Options,
}

impl Compiler<'_> {
    fn compile(&self, q: &Query) -> Result<Compiled, ApiError> {
        let table = self
            .data
            .table_index(&q.from.object)
            .ok_or_else(|| invalid_type(self.text, &q.from.object))?;
        let def = self.data.tables()[table].def().clone();
        if def.name == "ContentDocumentLink" && !self.filters_on_an_id(q, &def) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_QUERY",
                "Implementation restriction: ContentDocumentLink requires a filter by a single Id \
                 on ContentDocumentId or LinkedEntityId using the equals operator or multiple \
                 Id's using the IN operator.",
            ));
        }
        self.compile_on(q, table, &def, None)
    }

    /// Whether a query's filter (or one of its top-level `AND` terms) is `=` or `IN` on `Id`,
    /// `ContentDocumentId` or `LinkedEntityId`, which Salesforce requires of a
    /// `ContentDocumentLink` query (for a user without the Query All Files permission).
    fn filters_on_an_id(&self, q: &Query, def: &ObjectDef) -> bool {
        let alias = q.from.alias.as_deref();
        let on_an_id = |lhs: &Expr| match lhs {
            Expr::Field(f) => match self.segments(f, alias, def) {
                [field] => ["Id", "ContentDocumentId", "LinkedEntityId"]
                    .iter()
                    .any(|n| field.eq_ignore_ascii_case(n)),
                _ => false,
            },
            Expr::Call(_) => false,
        };
        let term = |c: &soql::Condition| match c {
            Condition::Compare {
                lhs,
                op: CompareOp::Eq,
                ..
            } => on_an_id(lhs),
            Condition::InList {
                lhs,
                negated: false,
                ..
            }
            | Condition::InQuery {
                lhs,
                negated: false,
                ..
            } => on_an_id(lhs),
            _ => false,
        };
        match &q.filter {
            Some(Condition::And(terms)) => terms.iter().any(term),
            Some(c) => term(c),
            None => false,
        }
    }

    fn compile_on(
        &self,
        q: &Query,
        table: usize,
        def: &ObjectDef,
        parent_field: Option<usize>,
    ) -> Result<Compiled, ApiError> {
        if let Some(soql::GroupBy {
            kind: soql::GroupKind::Rollup | soql::GroupKind::Cube,
            ..
        }) = &q.group_by
        {
            return Err(unsupported(
                self.text,
                "GROUP BY",
                "GROUP BY ROLLUP or CUBE",
            ));
        }
        let alias = q.from.alias.as_deref();
        let filter = q
            .filter
            .as_ref()
            .map(|c| self.condition(c, def, alias))
            .transpose()?;
        let count_only = q.is_count_only();
        let aggregate = if q.is_aggregate() {
            Some(self.aggregate(q, def, alias)?)
        } else {
            None
        };
        let mut nodes = Vec::new();
        if aggregate.is_none() && !count_only {
            for item in &q.select {
                self.select_item(item, def, alias, &mut nodes, q)?;
            }
        }
        let order = if aggregate.is_some() {
            Vec::new()
        } else {
            q.order_by
                .iter()
                .map(|o| match &o.expr {
                    Expr::Field(f) => Ok(OrderKey {
                        path: self.path(f, def, alias)?,
                        desc: o.is_descending(),
                        nulls_first: o.nulls_first(),
                    }),
                    Expr::Call(c) => Err(unsupported(self.text, &c.name, "ORDER BY on a function")),
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Compiled {
            table,
            nodes,
            filter,
            order,
            limit: q.limit.map(|l| l as usize),
            offset: q.offset.unwrap_or(0) as usize,
            count_only,
            aggregate,
            parent_field,
        })
    }

    /// Strips a leading alias segment (`c.Name` with `FROM Contact c`).
    fn segments<'p>(
        &self,
        f: &'p soql::FieldPath,
        alias: Option<&str>,
        def: &ObjectDef,
    ) -> &'p [String] {
        match (alias, f.segments.split_first()) {
            (Some(a), Some((first, rest))) if !rest.is_empty() && first.eq_ignore_ascii_case(a) => {
                rest
            }
            (_, Some((first, rest)))
                if !rest.is_empty() && first.eq_ignore_ascii_case(&def.name) =>
            {
                // `Contact.Name` on Contact: Salesforce allows the object name as a prefix.
                if def.field_by_relationship(first).is_none() {
                    rest
                } else {
                    &f.segments
                }
            }
            _ => &f.segments,
        }
    }

    fn path(
        &self,
        f: &soql::FieldPath,
        def: &ObjectDef,
        alias: Option<&str>,
    ) -> Result<Path, ApiError> {
        let written = f.segments.join(".");
        let segs = self.segments(f, alias, def);
        let Some((last, rels)) = segs.split_last() else {
            return Err(located(
                "MALFORMED_QUERY",
                self.text,
                "",
                "empty field path",
            ));
        };
        // `objs` holds the possible objects at the current level (several after a polymorphic hop).
        let base = self
            .data
            .schema()
            .object(&def.name)
            .cloned()
            .ok_or_else(|| invalid_type(self.text, &def.name))?;
        let mut objs: Vec<std::sync::Arc<ObjectDef>> = vec![base];
        let mut hops = Vec::new();
        let mut static_level = true;
        for rel in rels {
            let mut next = Vec::new();
            let mut hop: Option<(String, Option<usize>)> = None;
            for o in &objs {
                if let Some(rf) = o.field_by_relationship(rel) {
                    if hop.is_none() {
                        let pos = if static_level {
                            o.field_index(&rf.name)
                        } else {
                            None
                        };
                        hop = Some((rf.name.clone(), pos));
                    }
                    for target in &rf.reference_to {
                        if let Some(t) = self.data.schema().object(target)
                            && !next
                                .iter()
                                .any(|n: &std::sync::Arc<ObjectDef>| n.name == t.name)
                        {
                            next.push(t.clone());
                        }
                    }
                    if rf.polymorphic() {
                        static_level = false;
                    }
                }
            }
            let Some(hop) = hop else {
                return Err(bad_relationship(self.text, &written, rel));
            };
            hops.push(hop);
            if next.len() > 1 {
                static_level = false;
            }
            objs = next;
        }
        let found = objs.iter().find_map(|o| o.field(last).map(|fd| (o, fd)));
        let Some((o, fd)) = found else {
            let obj = objs.first().map_or(def.name.as_str(), |o| o.name.as_str());
            return Err(no_such_column(self.text, &written, last, obj));
        };
        Ok(Path {
            written,
            hops,
            field: fd.name.clone(),
            field_pos: if static_level {
                o.field_index(&fd.name)
            } else {
                None
            },
            def: fd.clone(),
        })
    }

    fn select_item(
        &self,
        item: &SelectItem,
        def: &ObjectDef,
        alias: Option<&str>,
        nodes: &mut Vec<Node>,
        q: &Query,
    ) -> Result<(), ApiError> {
        match item {
            SelectItem::Expr {
                expr: Expr::Field(f),
                ..
            } => {
                let p = self.path(f, def, alias)?;
                insert_path(nodes, &p, false, self, def);
            }
            SelectItem::Expr {
                expr: Expr::Call(c),
                ..
            } => {
                let known = ["tolabel", "format", "convertcurrency"];
                let inner = match c.args.as_slice() {
                    [soql::FunctionArg::Expr(Expr::Field(f))]
                        if known.contains(&c.name.to_ascii_lowercase().as_str()) =>
                    {
                        f
                    }
                    _ => {
                        return Err(unsupported(
                            self.text,
                            &c.name,
                            &format!("{}() in this position", c.name),
                        ));
                    }
                };
                let p = self.path(inner, def, alias)?;
                insert_path(nodes, &p, c.name.eq_ignore_ascii_case("tolabel"), self, def);
            }
            SelectItem::Fields(kind) => {
                if matches!(kind, FieldsKind::All | FieldsKind::Custom)
                    && q.limit.is_none_or(|l| l > 200)
                {
                    return Err(located(
                        "MALFORMED_QUERY",
                        self.text,
                        "FIELDS",
                        "The SOQL FIELDS function must have a LIMIT of at most 200",
                    ));
                }
                for (i, f) in def.live_fields() {
                    let take = match kind {
                        FieldsKind::All => true,
                        FieldsKind::Custom => f.custom,
                        FieldsKind::Standard => !f.custom,
                    };
                    if take
                        && !nodes
                            .iter()
                            .any(|n| matches!(n, Node::Field { name, .. } if *name == f.name))
                    {
                        nodes.push(Node::Field {
                            name: f.name.clone(),
                            pos: Some(i),
                            label: false,
                        });
                    }
                }
            }
            SelectItem::Subquery(sub) => {
                let rel = &sub.from.object;
                let Some(cr) = def.child_relationship(rel) else {
                    return Err(located(
                        "INVALID_TYPE",
                        self.text,
                        rel,
                        &format!(
                            "Didn't understand relationship '{rel}' in FROM part of query call. If you are attempting \
                             to use a custom relationship, be sure to append the '__r' after the custom relationship \
                             name. Please reference your WSDL or the describe call for the appropriate names."
                        ),
                    ));
                };
                let child_table = self
                    .data
                    .table_index(&cr.child_object)
                    .ok_or_else(|| invalid_type(self.text, rel))?;
                let child_def = self.data.tables()[child_table].def().clone();
                let pf = child_def.field_index(&cr.field);
                let compiled = self.compile_on(sub, child_table, &child_def, pf)?;
                nodes.push(Node::Child {
                    rel: cr.relationship_name.clone().unwrap_or_else(|| rel.clone()),
                    query: Box::new(compiled),
                });
            }
            SelectItem::TypeOf(_) => return Err(unsupported(self.text, "TYPEOF", "TYPEOF")),
        }
        Ok(())
    }

    fn condition(
        &self,
        c: &Condition,
        def: &ObjectDef,
        alias: Option<&str>,
    ) -> Result<Cond, ApiError> {
        Ok(match c {
            Condition::Compare { lhs, op, value } => {
                let path = self.lhs(lhs, def, alias)?;
                let lit = self.literal(&path, value)?;
                Cond::Cmp { path, op: *op, lit }
            }
            Condition::Like { lhs, pattern } => {
                let path = self.lhs(lhs, def, alias)?;
                let LikeValue::Pattern(p) = pattern else {
                    return Err(unsupported(self.text, ":", "an apex bind variable"));
                };
                if !is_text(path.def.ty)
                    && !matches!(path.def.ty, FieldType::Id | FieldType::Reference)
                {
                    return Err(located(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        self.text,
                        &path.written,
                        &format!("invalid operator on {} field: LIKE", type_word(path.def.ty)),
                    ));
                }
                Cond::Like {
                    path,
                    pattern: Like::new(p.as_str()),
                }
            }
            Condition::InList {
                lhs,
                negated,
                values,
            } => {
                let path = self.lhs(lhs, def, alias)?;
                let lits = values
                    .iter()
                    .map(|v| self.literal(&path, v))
                    .collect::<Result<_, _>>()?;
                Cond::In {
                    path,
                    negated: *negated,
                    lits,
                }
            }
            Condition::InQuery {
                lhs,
                negated,
                query,
            } => {
                let path = self.lhs(lhs, def, alias)?;
                let ids = self.semi_join(query)?;
                Cond::InSet {
                    path,
                    negated: *negated,
                    ids,
                }
            }
            Condition::Includes {
                lhs,
                excludes,
                values,
            } => {
                let path = self.lhs(lhs, def, alias)?;
                if path.def.ty != FieldType::MultiPicklist {
                    return Err(located(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        self.text,
                        &path.written,
                        "includes or excludes operator only valid on multipicklist field",
                    ));
                }
                let sets = values
                    .iter()
                    .map(|v| match v {
                        soql::Value::String(s) => {
                            Ok(s.split(';').map(|p| p.trim().to_lowercase()).collect())
                        }
                        _ => Err(located(
                            "INVALID_QUERY_FILTER_OPERATOR",
                            self.text,
                            &path.written,
                            "value must be a string",
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                Cond::Includes {
                    path,
                    excludes: *excludes,
                    sets,
                }
            }
            Condition::And(cs) => Cond::And(
                cs.iter()
                    .map(|c| self.condition(c, def, alias))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Or(cs) => Cond::Or(
                cs.iter()
                    .map(|c| self.condition(c, def, alias))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Not(c) => Cond::Not(Box::new(self.condition(c, def, alias)?)),
        })
    }

    fn lhs(&self, e: &Expr, def: &ObjectDef, alias: Option<&str>) -> Result<Path, ApiError> {
        match e {
            Expr::Field(f) => self.path(f, def, alias),
            Expr::Call(c) => Err(unsupported(
                self.text,
                &c.name,
                &format!("{}() in WHERE", c.name),
            )),
        }
    }

    /// Runs a semi-join subquery and collects the ids it selects.
    fn semi_join(&self, q: &Query) -> Result<HashSet<Id>, ApiError> {
        let compiled = self.compile(q)?;
        let [Node::Field { name, .. }] = compiled.nodes.as_slice() else {
            return Err(located(
                "MALFORMED_QUERY",
                self.text,
                "SELECT",
                "a semi-join subquery selects exactly one id field",
            ));
        };
        let t = &self.data.tables()[compiled.table];
        let pos = t.def().field_index(name);
        let rows = compiled.matching_rows(self.data, t, None, self.opts);
        Ok(rows
            .into_iter()
            .filter_map(|r| pos.and_then(|p| t.value(r, p)).and_then(Value::as_id))
            .collect())
    }

    /// Converts a literal for comparison with `path`'s field, as Salesforce type-checks it.
    fn literal(&self, path: &Path, v: &soql::Value) -> Result<Lit, ApiError> {
        let ty = path.def.ty;
        let mismatch = |want: &str| {
            located(
                "INVALID_QUERY_FILTER_OPERATOR",
                self.text,
                &path.written,
                &format!(
                    "value of filter criterion for field '{}' must be of type {want} and should not be enclosed in quotes",
                    path.field
                ),
            )
        };
        Ok(match (v, ty) {
            (soql::Value::Null, _) => Lit::Null,
            (soql::Value::Bind(_), _) => {
                return Err(unsupported(self.text, ":", "an apex bind variable"));
            }
            (soql::Value::String(s), FieldType::Id | FieldType::Reference) => {
                match Id::parse(s.trim()) {
                    Ok(id) => Lit::Id(id),
                    Err(_) => {
                        return Err(located(
                            "INVALID_QUERY_FILTER_OPERATOR",
                            self.text,
                            &path.written,
                            &format!("invalid ID field: {s}"),
                        ));
                    }
                }
            }
            (soql::Value::String(s), t) if is_text(t) => Lit::Text(s.to_lowercase()),
            (_, t) if is_text(t) || matches!(t, FieldType::Id | FieldType::Reference) => {
                return Err(located(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    self.text,
                    &path.written,
                    &format!(
                        "value of filter criterion for field '{}' must be of type string and should be enclosed in quotes",
                        path.field
                    ),
                ));
            }
            (soql::Value::Boolean(b), FieldType::Boolean) => Lit::Bool(*b),
            (_, FieldType::Boolean) => return Err(mismatch("boolean")),
            (
                soql::Value::Number(n),
                FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent,
            ) => Lit::Num(n.as_f64()),
            (soql::Value::Currency { amount, .. }, FieldType::Currency) => {
                Lit::Num(amount.as_f64())
            }
            (_, FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent) => {
                return Err(mismatch(if ty == FieldType::Int {
                    "int"
                } else {
                    "double"
                }));
            }
            (soql::Value::Date(d), FieldType::Date) => Lit::Date(value::date_to_days(*d)),
            (soql::Value::DateTime(t), FieldType::DateTime) => Lit::DateTime(t.timestamp_millis()),
            (soql::Value::DateLiteral(l), FieldType::Date | FieldType::DateTime) => {
                let r = l.range(self.opts.now);
                Lit::Range {
                    days: (value::date_to_days(r.start), value::date_to_days(r.end)),
                    ms: (
                        r.start_datetime().timestamp_millis(),
                        r.end_datetime().timestamp_millis(),
                    ),
                }
            }
            (_, FieldType::Date) => return Err(mismatch("date")),
            (_, FieldType::DateTime) => return Err(mismatch("datetime")),
            (soql::Value::String(s), FieldType::Time) => match value::parse_time(s) {
                Some(ms) => Lit::Num(f64::from(ms)),
                None => return Err(mismatch("time")),
            },
            _ => return Err(mismatch(type_word(ty))),
        })
    }

    fn aggregate(
        &self,
        q: &Query,
        def: &ObjectDef,
        alias: Option<&str>,
    ) -> Result<Aggregate, ApiError> {
        let groups: Vec<Path> = match &q.group_by {
            Some(g) => g
                .items
                .iter()
                .map(|e| self.lhs(e, def, alias))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let mut columns = Vec::new();
        let mut expr_n = 0;
        for item in &q.select {
            let SelectItem::Expr {
                expr,
                alias: col_alias,
            } = item
            else {
                return Err(unsupported(
                    self.text,
                    "SELECT",
                    "a subquery or FIELDS() in an aggregate query",
                ));
            };
            let col = self.column(expr, &groups, def, alias)?;
            let name = match (col_alias, &col) {
                (Some(a), _) => a.clone(),
                (None, Column::Group(i)) => groups[*i].field.clone(),
                (None, Column::Agg(..)) => {
                    let n = format!("expr{expr_n}");
                    expr_n += 1;
                    n
                }
            };
            columns.push((name, col));
        }
        let having = q
            .having
            .as_ref()
            .map(|h| self.having(h, &groups, def, alias))
            .transpose()?;
        let order = q
            .order_by
            .iter()
            .map(|o| {
                Ok((
                    self.column(&o.expr, &groups, def, alias)?,
                    o.is_descending(),
                    o.nulls_first(),
                ))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(Aggregate {
            groups,
            columns,
            having,
            order,
        })
    }

    fn column(
        &self,
        e: &Expr,
        groups: &[Path],
        def: &ObjectDef,
        alias: Option<&str>,
    ) -> Result<Column, ApiError> {
        match e {
            Expr::Field(f) => {
                let p = self.path(f, def, alias)?;
                groups
                    .iter()
                    .position(|g| g.written.eq_ignore_ascii_case(&p.written))
                    .map(Column::Group)
                    .ok_or_else(|| {
                        located(
                            "MALFORMED_QUERY",
                            self.text,
                            &p.written,
                            &format!("Field must be grouped or aggregated: {}", p.field),
                        )
                    })
            }
            Expr::Call(c) => {
                let Some(agg) = c.aggregate() else {
                    return Err(unsupported(
                        self.text,
                        &c.name,
                        &format!("{}() in an aggregate query", c.name),
                    ));
                };
                let arg = match c.args.as_slice() {
                    [] => None,
                    [soql::FunctionArg::Expr(Expr::Field(f))] => {
                        Some(Box::new(self.path(f, def, alias)?))
                    }
                    _ => return Err(unsupported(self.text, &c.name, "this aggregate argument")),
                };
                Ok(Column::Agg(agg, arg))
            }
        }
    }

    fn having(
        &self,
        c: &Condition,
        groups: &[Path],
        def: &ObjectDef,
        alias: Option<&str>,
    ) -> Result<HavingCond, ApiError> {
        Ok(match c {
            Condition::Compare { lhs, op, value } => {
                let col = self.column(lhs, groups, def, alias)?;
                let lit = match (&col, value) {
                    (Column::Group(i), v) => self.literal(&groups[*i], v)?,
                    (_, soql::Value::Number(n)) => Lit::Num(n.as_f64()),
                    (_, soql::Value::Null) => Lit::Null,
                    (Column::Agg(_, Some(p)), v) => self.literal(p, v)?,
                    _ => return Err(unsupported(self.text, "HAVING", "this HAVING value")),
                };
                HavingCond::Cmp { col, op: *op, lit }
            }
            Condition::And(cs) => HavingCond::And(
                cs.iter()
                    .map(|c| self.having(c, groups, def, alias))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Or(cs) => HavingCond::Or(
                cs.iter()
                    .map(|c| self.having(c, groups, def, alias))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Not(c) => HavingCond::Not(Box::new(self.having(c, groups, def, alias)?)),
            _ => return Err(unsupported(self.text, "HAVING", "this HAVING condition")),
        })
    }
}

/// Adds a field path to the output tree, nesting parents; a path already present is not added twice.
fn insert_path(nodes: &mut Vec<Node>, p: &Path, label: bool, c: &Compiler<'_>, def: &ObjectDef) {
    let mut level = nodes;
    let mut obj: Option<std::sync::Arc<ObjectDef>> = c.data.schema().object(&def.name).cloned();
    for (ref_field, ref_pos) in &p.hops {
        let rel_name = obj
            .as_ref()
            .and_then(|o| o.field(ref_field))
            .and_then(|f| f.relationship_name.clone())
            .unwrap_or_else(|| ref_field.clone());
        let next_obj = obj.as_ref().and_then(|o| o.field(ref_field)).and_then(|f| {
            (f.reference_to.len() == 1)
                .then(|| f.reference_to[0].clone())
                .and_then(|t| c.data.schema().object(&t).cloned())
        });
        let idx = level
            .iter()
            .position(|n| matches!(n, Node::Parent { rel, .. } if *rel == rel_name));
        let idx = match idx {
            Some(i) => i,
            None => {
                level.push(Node::Parent {
                    rel: rel_name,
                    ref_field: ref_field.clone(),
                    ref_pos: *ref_pos,
                    nodes: Vec::new(),
                });
                level.len() - 1
            }
        };
        let Node::Parent { nodes: inner, .. } = &mut level[idx] else {
            return;
        };
        level = inner;
        obj = next_obj;
    }
    if !level
        .iter()
        .any(|n| matches!(n, Node::Field { name, .. } if *name == p.field))
    {
        level.push(Node::Field {
            name: p.field.clone(),
            pos: p.field_pos,
            label,
        });
    }
}

/// A LIKE pattern compiled once per query: the common shapes (`%term%`, `term%`, `%term`,
/// `term`) become a case-insensitive substring test without allocation for ASCII text; anything
/// else (`_`, `%` in the middle) goes through the general matcher.
#[derive(Debug)]
enum Like {
    Contains(String),
    Prefix(String),
    Suffix(String),
    Exact(String),
    General(String),
}

impl Like {
    fn new(pattern: &str) -> Self {
        let starts = pattern.starts_with('%');
        let body = if starts { &pattern[1..] } else { pattern };
        // A trailing `%` is a wildcard unless escaped (an odd number of backslashes before it).
        let ends = body.ends_with('%')
            && body[..body.len() - 1]
                .chars()
                .rev()
                .take_while(|c| *c == '\\')
                .count()
                % 2
                == 0;
        let body = if ends { &body[..body.len() - 1] } else { body };
        let mut literal = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' | '_' => return Like::General(pattern.to_owned()),
                '\\' => literal.push(chars.next().unwrap_or('\\')),
                c => literal.push(c),
            }
        }
        let literal = literal.to_lowercase();
        match (starts, ends) {
            (true, true) => Like::Contains(literal),
            (false, true) => Like::Prefix(literal),
            (true, false) => Like::Suffix(literal),
            (false, false) => Like::Exact(literal),
        }
    }

    fn matches(&self, text: &str) -> bool {
        let needle = match self {
            Like::General(p) => return soql::like_match(p, text),
            Like::Contains(n) | Like::Prefix(n) | Like::Suffix(n) | Like::Exact(n) => n,
        };
        if text.is_ascii() && needle.is_ascii() {
            let (t, n) = (text.as_bytes(), needle.as_bytes());
            return match self {
                Like::Contains(_) => {
                    n.is_empty() || t.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
                }
                Like::Prefix(_) => t.len() >= n.len() && t[..n.len()].eq_ignore_ascii_case(n),
                Like::Suffix(_) => {
                    t.len() >= n.len() && t[t.len() - n.len()..].eq_ignore_ascii_case(n)
                }
                _ => t.eq_ignore_ascii_case(n),
            };
        }
        let lower = text.to_lowercase();
        match self {
            Like::Contains(_) => lower.contains(needle.as_str()),
            Like::Prefix(_) => lower.starts_with(needle.as_str()),
            Like::Suffix(_) => lower.ends_with(needle.as_str()),
            _ => lower == *needle,
        }
    }
}

fn is_text(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::String
            | FieldType::TextArea
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Url
            | FieldType::Picklist
            | FieldType::MultiPicklist
            | FieldType::Combobox
            | FieldType::Base64
    )
}

fn type_word(t: FieldType) -> &'static str {
    match t {
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
        FieldType::Date => "date",
        FieldType::DateTime => "datetime",
        FieldType::Time => "time",
        FieldType::Address => "address",
        FieldType::Id | FieldType::Reference => "id",
        _ => "string",
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Where a path lands for one record: the table and row holding the final field.
fn walk<'d>(
    data: &'d Data,
    mut t: &'d Table,
    mut row: RowId,
    path: &Path,
    base: &Table,
) -> Option<(&'d Table, RowId)> {
    for (i, (name, pos)) in path.hops.iter().enumerate() {
        let p = if i == 0 && std::ptr::eq(t, base) {
            *pos
        } else {
            None
        }
        .or_else(|| t.def().field_index(name))?;
        let id = t.value(row, p)?.as_id()?;
        let (nt, nr, rec) = data.get(id)?;
        if rec.is_deleted() {
            return None;
        }
        t = nt;
        row = nr;
    }
    Some((t, row))
}

fn field_value<'d>(
    data: &'d Data,
    t: &'d Table,
    row: RowId,
    path: &Path,
    base: &Table,
) -> Option<&'d Value> {
    let (ft, fr) = walk(data, t, row, path, base)?;
    let pos = if path.hops.is_empty() && std::ptr::eq(ft, base) {
        path.field_pos
    } else {
        None
    }
    .or_else(|| ft.def().field_index(&path.field))?;
    ft.value(fr, pos)
}

fn text_of(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Id(id) => Some(std::borrow::Cow::Borrowed(id.as_str())),
        _ => None,
    }
}

/// Compares a stored value with a literal; `None` when they cannot be compared.
fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::Str(s), Lit::Text(t)) => Some(soql::cmp_ignore_case(s, t)),
        (Value::Id(a), Lit::Id(b)) => Some(a.cmp(b)),
        (Value::Id(a), Lit::Text(t)) => Some(soql::cmp_ignore_case(a.as_str(), t)),
        (Value::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Value::Int(_) | Value::Double(_), Lit::Num(n)) => v.as_f64()?.partial_cmp(n),
        (Value::Time(t), Lit::Num(n)) => f64::from(*t).partial_cmp(n),
        (Value::Date(d), Lit::Date(e)) => Some(d.cmp(e)),
        (Value::DateTime(a), Lit::DateTime(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn matches_cmp(v: Option<&Value>, op: CompareOp, lit: &Lit) -> bool {
    let v = v.filter(|v| !v.is_null());
    match (v, lit) {
        (None, Lit::Null) => op == CompareOp::Eq,
        (Some(_), Lit::Null) => op == CompareOp::Ne,
        (None, _) => op == CompareOp::Ne,
        (Some(v), Lit::Range { days, ms }) => {
            let (x, (s, e)) = match v {
                Value::Date(d) => (i64::from(*d), (i64::from(days.0), i64::from(days.1))),
                Value::DateTime(t) => (*t, *ms),
                _ => return false,
            };
            match op {
                CompareOp::Eq => s <= x && x < e,
                CompareOp::Ne => !(s <= x && x < e),
                CompareOp::Lt => x < s,
                CompareOp::Le => x < e,
                CompareOp::Gt => x >= e,
                CompareOp::Ge => x >= s,
            }
        }
        (Some(v), lit) => match compare(v, lit) {
            Some(o) => match op {
                CompareOp::Eq => o == Ordering::Equal,
                CompareOp::Ne => o != Ordering::Equal,
                CompareOp::Lt => o == Ordering::Less,
                CompareOp::Le => o != Ordering::Greater,
                CompareOp::Gt => o == Ordering::Greater,
                CompareOp::Ge => o != Ordering::Less,
            },
            None => op == CompareOp::Ne,
        },
    }
}

impl Cond {
    fn eval(&self, data: &Data, t: &Table, row: RowId) -> bool {
        match self {
            Cond::Cmp { path, op, lit } => {
                matches_cmp(field_value(data, t, row, path, t), *op, lit)
            }
            Cond::Like { path, pattern } => field_value(data, t, row, path, t)
                .and_then(text_of)
                .is_some_and(|s| pattern.matches(&s)),
            Cond::In {
                path,
                negated,
                lits,
            } => {
                let v = field_value(data, t, row, path, t);
                let hit = lits.iter().any(|l| matches_cmp(v, CompareOp::Eq, l));
                hit != *negated
            }
            Cond::InSet { path, negated, ids } => {
                let hit = field_value(data, t, row, path, t)
                    .and_then(Value::as_id)
                    .is_some_and(|id| ids.contains(&id));
                hit != *negated
            }
            Cond::Includes {
                path,
                excludes,
                sets,
            } => {
                let have: Vec<String> = field_value(data, t, row, path, t)
                    .and_then(Value::as_str)
                    .map(|s| s.split(';').map(|p| p.trim().to_lowercase()).collect())
                    .unwrap_or_default();
                let hit = sets.iter().any(|set| set.iter().all(|p| have.contains(p)));
                hit != *excludes
            }
            Cond::And(cs) => cs.iter().all(|c| c.eval(data, t, row)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(data, t, row)),
            Cond::Not(c) => !c.eval(data, t, row),
        }
    }

    /// Rows that may match, from the indexes; `None` when the table must be scanned.
    fn candidates(&self, t: &Table) -> Option<Vec<RowId>> {
        match self {
            Cond::Cmp {
                path,
                op: CompareOp::Eq,
                lit,
            } if path.hops.is_empty() => lookup(t, path, lit),
            Cond::In {
                path,
                negated: false,
                lits,
            } if path.hops.is_empty() => {
                let mut all = Vec::new();
                for l in lits {
                    all.extend(lookup(t, path, l)?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            Cond::InSet {
                path,
                negated: false,
                ids,
            } if path.hops.is_empty() && path.field.eq_ignore_ascii_case("Id") => {
                let mut rows: Vec<RowId> = ids.iter().filter_map(|id| t.row_of(*id)).collect();
                rows.sort_unstable();
                Some(rows)
            }
            Cond::And(cs) => cs
                .iter()
                .filter_map(|c| c.candidates(t))
                .min_by_key(Vec::len),
            Cond::Or(cs) => {
                let mut all = Vec::new();
                for c in cs {
                    all.extend(c.candidates(t)?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            _ => None,
        }
    }
}

fn lookup(t: &Table, path: &Path, lit: &Lit) -> Option<Vec<RowId>> {
    let pos = path.field_pos?;
    if path.def.ty == FieldType::Id {
        return match lit {
            Lit::Id(id) => Some(t.row_of(*id).into_iter().collect()),
            _ => None,
        };
    }
    let raw = match lit {
        Lit::Text(s) => s.clone(),
        Lit::Id(id) => {
            return t.index(pos).map(|_| t.children(pos, *id).to_vec());
        }
        Lit::Num(n) => n.to_string(),
        _ => return None,
    };
    t.lookup(pos, &raw).map(<[RowId]>::to_vec)
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Str(x)), Some(Value::Str(y))) => soql::cmp_ignore_case(x, y),
        (Some(x), Some(y)) => match (x, y) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Date(x), Value::Date(y)) => x.cmp(y),
            (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
            (Value::Time(x), Value::Time(y)) => x.cmp(y),
            (Value::Id(x), Value::Id(y)) => x.cmp(y),
            _ => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
        },
        _ => Ordering::Equal,
    }
}

impl Compiled {
    /// The rows that match the filter, ordered, before OFFSET and LIMIT.
    fn matching_rows(
        &self,
        data: &Data,
        t: &Table,
        parent: Option<Id>,
        opts: &Options,
    ) -> Vec<RowId> {
        let visible = |r: RowId| opts.all_rows || t.record(r).is_some_and(|rec| !rec.is_deleted());
        let mut rows: Vec<RowId> = match (parent, self.parent_field) {
            (Some(pid), Some(pf)) => t
                .children(pf, pid)
                .iter()
                .copied()
                .filter(|&r| visible(r))
                .collect(),
            _ => match self.filter.as_ref().and_then(|f| f.candidates(t)) {
                Some(c) => c.into_iter().filter(|&r| visible(r)).collect(),
                None => t.rows().map(|(r, _)| r).filter(|&r| visible(r)).collect(),
            },
        };
        if let Some(f) = &self.filter {
            rows.retain(|&r| f.eval(data, t, r));
        }
        if !self.order.is_empty() {
            rows.sort_by(|&a, &b| {
                for k in &self.order {
                    let va = field_value(data, t, a, &k.path, t).filter(|v| !v.is_null());
                    let vb = field_value(data, t, b, &k.path, t).filter(|v| !v.is_null());
                    let o = match (va, vb) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => {
                            if k.nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (Some(_), None) => {
                            if k.nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        (x, y) => {
                            let o = cmp_values(x, y);
                            if k.desc { o.reverse() } else { o }
                        }
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        rows
    }

    fn page<T>(&self, mut rows: Vec<T>) -> Vec<T> {
        let start = self.offset.min(rows.len());
        rows.drain(..start);
        if let Some(l) = self.limit {
            rows.truncate(l);
        }
        rows
    }

    fn execute(&self, data: &Data, opts: &Options) -> Result<Output, ApiError> {
        let t = &data.tables()[self.table];
        let rows = self.matching_rows(data, t, None, opts);
        if self.count_only {
            return Ok(Output::Count(self.page(rows).len()));
        }
        if let Some(agg) = &self.aggregate {
            return Ok(Output::Shaped(self.page(agg.run(data, t, &rows))));
        }
        Ok(Output::Rows {
            table: self.table,
            rows: self.page(rows),
        })
    }

    fn shape(&self, data: &Data, t: &Table, row: RowId, opts: &Options) -> J {
        J::Object(shape_nodes(&self.nodes, data, t, row, opts, true))
    }
}

fn shape_nodes(
    nodes: &[Node],
    data: &Data,
    t: &Table,
    row: RowId,
    opts: &Options,
    base: bool,
) -> Map<String, J> {
    let mut out = Map::new();
    if let Some(rec) = t.record(row) {
        out.insert(
            "attributes".into(),
            json!({"type": t.def().name, "url": crate::store::record_url(opts.version, &t.def().name, rec.id())}),
        );
    }
    for n in nodes {
        match n {
            Node::Field { name, pos, label } => {
                let p = if base { *pos } else { None }.or_else(|| t.def().field_index(name));
                let v = p.map_or(J::Null, |p| {
                    let j = t.field_json(row, p);
                    if *label {
                        picklist_label(&t.def().fields[p], j)
                    } else {
                        j
                    }
                });
                out.insert(name.clone(), v);
            }
            Node::Parent {
                rel,
                ref_field,
                ref_pos,
                nodes,
            } => {
                let p =
                    if base { *ref_pos } else { None }.or_else(|| t.def().field_index(ref_field));
                let parent = p
                    .and_then(|p| t.value(row, p))
                    .and_then(Value::as_id)
                    .and_then(|id| data.get(id))
                    .filter(|(_, _, rec)| !rec.is_deleted());
                let v = match parent {
                    Some((pt, pr, _)) => J::Object(shape_nodes(nodes, data, pt, pr, opts, false)),
                    None => J::Null,
                };
                out.insert(rel.clone(), v);
            }
            Node::Child { rel, query } => {
                let ct = &data.tables()[query.table];
                let id = t.record(row).map(|r| r.id());
                let rows = query.page(query.matching_rows(data, ct, id, opts));
                let v = if rows.is_empty() {
                    J::Null
                } else {
                    let records: Vec<J> = rows
                        .iter()
                        .map(|&r| query.shape(data, ct, r, opts))
                        .collect();
                    json!({"totalSize": records.len(), "done": true, "records": records})
                };
                out.insert(rel.clone(), v);
            }
        }
    }
    out
}

fn picklist_label(f: &FieldDef, v: J) -> J {
    match &v {
        J::String(s) => f
            .picklist
            .iter()
            .find(|p| p.value == *s)
            .map_or(v.clone(), |p| J::String(p.label.clone())),
        _ => v,
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregates

impl Aggregate {
    fn run(&self, data: &Data, t: &Table, rows: &[RowId]) -> Vec<J> {
        // Group rows by the JSON of their group-by values, keeping first-seen order.
        let mut keys: Vec<Vec<J>> = Vec::new();
        let mut members: Vec<Vec<RowId>> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for &r in rows {
            let key: Vec<J> = self
                .groups
                .iter()
                .map(|g| group_json(data, t, r, g))
                .collect();
            let k = serde_json::to_string(&key).unwrap_or_default();
            let i = *index.entry(k).or_insert_with(|| {
                keys.push(key);
                members.push(Vec::new());
                keys.len() - 1
            });
            members[i].push(r);
        }
        if self.groups.is_empty() && keys.is_empty() {
            keys.push(Vec::new());
            members.push(Vec::new());
        }
        let mut out: Vec<(Vec<J>, Map<String, J>)> = Vec::new();
        for (key, rows) in keys.iter().zip(&members) {
            let eval = |c: &Column| column_value(c, key, data, t, rows);
            if let Some(h) = &self.having
                && !h.eval(&eval)
            {
                continue;
            }
            let mut rec = Map::new();
            rec.insert("attributes".into(), json!({"type": "AggregateResult"}));
            for (name, c) in &self.columns {
                rec.insert(name.clone(), eval(c));
            }
            let sort_key = self.order.iter().map(|(c, ..)| eval(c)).collect();
            out.push((sort_key, rec));
        }
        if !self.order.is_empty() {
            out.sort_by(|a, b| {
                for (i, (_, desc, nulls_first)) in self.order.iter().enumerate() {
                    let (x, y) = (&a.0[i], &b.0[i]);
                    let o = match (x.is_null(), y.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => {
                            if *nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (false, true) => {
                            if *nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        _ => {
                            let o = cmp_json(x, y);
                            if *desc { o.reverse() } else { o }
                        }
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        out.into_iter().map(|(_, r)| J::Object(r)).collect()
    }
}

fn group_json(data: &Data, t: &Table, row: RowId, p: &Path) -> J {
    let Some((ft, fr)) = walk(data, t, row, p, t) else {
        return J::Null;
    };
    ft.def()
        .field_index(&p.field)
        .map_or(J::Null, |i| ft.field_json(fr, i))
}

fn column_value(c: &Column, key: &[J], data: &Data, t: &Table, rows: &[RowId]) -> J {
    match c {
        Column::Group(i) => key.get(*i).cloned().unwrap_or(J::Null),
        Column::Agg(agg, path) => {
            let vals: Vec<&Value> = match path {
                Some(p) => rows
                    .iter()
                    .filter_map(|&r| field_value(data, t, r, p, t))
                    .filter(|v| !v.is_null())
                    .collect(),
                None => Vec::new(),
            };
            match agg {
                soql::Aggregate::Count if path.is_none() => json!(rows.len()),
                soql::Aggregate::Count => json!(vals.len()),
                soql::Aggregate::CountDistinct => {
                    let set: HashSet<String> = vals
                        .iter()
                        .map(|v| format!("{v:?}").to_lowercase())
                        .collect();
                    json!(set.len())
                }
                soql::Aggregate::Sum | soql::Aggregate::Avg => {
                    let nums: Vec<f64> = vals.iter().filter_map(|v| v.as_f64()).collect();
                    if nums.is_empty() {
                        return J::Null;
                    }
                    let sum: f64 = nums.iter().sum();
                    let v = if *agg == soql::Aggregate::Sum {
                        sum
                    } else {
                        sum / nums.len() as f64
                    };
                    serde_json::Number::from_f64(v).map_or(J::Null, J::Number)
                }
                soql::Aggregate::Min | soql::Aggregate::Max => {
                    let best = vals.into_iter().reduce(|a, b| {
                        let o = cmp_values(Some(a), Some(b));
                        let keep_a = if *agg == soql::Aggregate::Min {
                            o != Ordering::Greater
                        } else {
                            o != Ordering::Less
                        };
                        if keep_a { a } else { b }
                    });
                    match (best, path) {
                        (Some(v), Some(p)) => value::to_json(&p.def, v),
                        _ => J::Null,
                    }
                }
            }
        }
    }
}

fn cmp_json(a: &J, b: &J) -> Ordering {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (J::String(x), J::String(y)) => soql::cmp_ignore_case(x, y),
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

impl HavingCond {
    fn eval(&self, col: &dyn Fn(&Column) -> J) -> bool {
        match self {
            HavingCond::Cmp { col: c, op, lit } => {
                let v = col(c);
                let stored = match (&v, lit) {
                    (J::Null, _) => None,
                    (J::Number(n), _) => n.as_f64().map(Value::Double),
                    (J::String(s), Lit::Date(_) | Lit::Range { .. }) => {
                        value::parse_date(s).map(Value::Date)
                    }
                    (J::String(s), Lit::DateTime(_)) => {
                        value::parse_datetime(s).map(Value::DateTime)
                    }
                    (J::String(s), Lit::Id(_)) => Id::parse(s).ok().map(Value::Id),
                    (J::String(s), _) => Some(Value::Str(s.as_str().into())),
                    (J::Bool(b), _) => Some(Value::Bool(*b)),
                    _ => None,
                };
                matches_cmp(stored.as_ref(), *op, lit)
            }
            HavingCond::And(cs) => cs.iter().all(|c| c.eval(col)),
            HavingCond::Or(cs) => cs.iter().any(|c| c.eval(col)),
            HavingCond::Not(c) => !c.eval(col),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Like;

    #[test]
    fn compiled_like_agrees_with_the_general_matcher() {
        let patterns = [
            "%ez 42%", "ez%", "%son", "Sarah", "%", "%%", "a_c", "a%c", "100\\%", "100\\%%",
            "%\\_x%", "%É%",
        ];
        let texts = [
            "Lopez 4242",
            "EZ",
            "Johnson",
            "sarah",
            "",
            "abc",
            "a-long-c",
            "100%",
            "100% sure",
            "a_x",
            "café",
            "CAFÉ",
        ];
        for p in patterns {
            let compiled = Like::new(p);
            for t in texts {
                assert_eq!(
                    compiled.matches(t),
                    callforce_soql::like_match(p, t),
                    "pattern {p:?} text {t:?} ({compiled:?})"
                );
            }
        }
        assert!(matches!(Like::new("%ez 42%"), Like::Contains(_)));
        assert!(matches!(Like::new("a_c"), Like::General(_)));
    }
}
