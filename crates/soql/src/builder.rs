//! Owned builders for the client side: SOQL `SELECT` queries and SOSL searches.
//!
//! Values are typed literals ([`Value`], [`LikePattern`]); they become text only through the
//! printer, which escapes every one of them, so no value can change the shape of the query.
//! Names (objects, fields) are checked when the query is built: anything that is not a plain
//! identifier or dotted path is refused with [`ErrorKind::InvalidName`].
//!
//! ```
//! use callforce_soql::{Cond, Direction, QueryBuilder};
//!
//! let phone = "+15551234567";
//! let soql = QueryBuilder::new("Contact")
//!     .select(["Id", "Name", "Account.Name"])
//!     .filter(Cond::eq("Phone", phone).or(Cond::eq("MobilePhone", phone)))
//!     .order_by("CreatedDate", Direction::Desc)
//!     .limit(1)
//!     .to_soql()
//!     .unwrap();
//! assert_eq!(
//!     soql,
//!     "SELECT Id, Name, Account.Name FROM Contact WHERE Phone = '+15551234567' \
//!      OR MobilePhone = '+15551234567' ORDER BY CreatedDate DESC LIMIT 1"
//! );
//! ```

use crate::ast::*;
use crate::error::{ErrorKind, ParseError, Result};
use crate::parser::{is_valid_ident, is_valid_name};

fn invalid(name: &str) -> ParseError {
    ParseError::new(
        ErrorKind::InvalidName {
            name: name.to_owned(),
        },
        "",
        0,
    )
}

fn path(name: &str) -> Result<FieldPath> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().all(|s| is_valid_name(s)) {
        Ok(FieldPath::new(segments))
    } else {
        Err(invalid(name))
    }
}

fn object(name: &str) -> Result<String> {
    if is_valid_ident(name) {
        Ok(name.to_owned())
    } else {
        Err(invalid(name))
    }
}

fn check_value(v: &Value) -> Result<()> {
    match v {
        Value::Bind(name) if !name.split('.').all(is_valid_ident) => Err(invalid(name)),
        Value::Currency { code, .. }
            if !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic())) =>
        {
            Err(invalid(code))
        }
        _ => Ok(()),
    }
}

/// A condition under construction; field names are checked when the query is built.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `field op value`.
    Compare(String, CompareOp, Value),
    /// `field LIKE pattern`.
    Like(String, LikePattern),
    /// `field [NOT] IN (values)`.
    In(String, bool, Vec<Value>),
    /// `field INCLUDES|EXCLUDES (values)`; the flag is true for `EXCLUDES`.
    Includes(String, bool, Vec<Value>),
    /// All of these.
    And(Vec<Cond>),
    /// One of these.
    Or(Vec<Cond>),
    /// Not this.
    Not(Box<Cond>),
}

impl Cond {
    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Eq, value.into())
    }

    /// `field != value`.
    pub fn ne(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Ne, value.into())
    }

    /// `field < value`.
    pub fn lt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Lt, value.into())
    }

    /// `field <= value`.
    pub fn le(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Le, value.into())
    }

    /// `field > value`.
    pub fn gt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Gt, value.into())
    }

    /// `field >= value`.
    pub fn ge(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cond::Compare(field.into(), CompareOp::Ge, value.into())
    }

    /// `field = null`.
    pub fn is_null(field: impl Into<String>) -> Self {
        Cond::Compare(field.into(), CompareOp::Eq, Value::Null)
    }

    /// `field != null`.
    pub fn not_null(field: impl Into<String>) -> Self {
        Cond::Compare(field.into(), CompareOp::Ne, Value::Null)
    }

    /// `field LIKE pattern`; build the pattern with [`LikePattern::exact`],
    /// [`LikePattern::starts_with`], [`LikePattern::contains`] (which escape `%` and `_`) or
    /// [`LikePattern::from_escaped`] when the caller wants wildcards.
    pub fn like(field: impl Into<String>, pattern: LikePattern) -> Self {
        Cond::Like(field.into(), pattern)
    }

    /// `field IN (values)`.
    pub fn is_in<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Cond::In(
            field.into(),
            false,
            values.into_iter().map(Into::into).collect(),
        )
    }

    /// `field NOT IN (values)`.
    pub fn not_in<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Cond::In(
            field.into(),
            true,
            values.into_iter().map(Into::into).collect(),
        )
    }

    /// `field INCLUDES (values)` on a multi-select picklist.
    pub fn includes<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Cond::Includes(
            field.into(),
            false,
            values.into_iter().map(Into::into).collect(),
        )
    }

    /// `field EXCLUDES (values)` on a multi-select picklist.
    pub fn excludes<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Cond::Includes(
            field.into(),
            true,
            values.into_iter().map(Into::into).collect(),
        )
    }

    /// `self AND other` (flattened into one `AND` when `self` already is one).
    pub fn and(self, other: Cond) -> Self {
        match self {
            Cond::And(mut items) => {
                items.push(other);
                Cond::And(items)
            }
            c => Cond::And(vec![c, other]),
        }
    }

    /// `self OR other` (flattened into one `OR` when `self` already is one).
    pub fn or(self, other: Cond) -> Self {
        match self {
            Cond::Or(mut items) => {
                items.push(other);
                Cond::Or(items)
            }
            c => Cond::Or(vec![c, other]),
        }
    }

    /// `NOT self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Cond::Not(Box::new(self))
    }

    /// The checked condition.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for a field that is not a plain identifier or dotted path, a
    /// bind name that is not an identifier, or a currency code that is not three letters.
    pub fn build(&self) -> Result<Condition> {
        let values = |vs: &[Value]| -> Result<Vec<Value>> {
            vs.iter().try_for_each(check_value)?;
            if vs.is_empty() {
                return Err(invalid("()"));
            }
            Ok(vs.to_vec())
        };
        let group =
            |cs: &[Cond]| -> Result<Vec<Condition>> { cs.iter().map(Cond::build).collect() };
        Ok(match self {
            Cond::Compare(f, op, v) => {
                check_value(v)?;
                Condition::Compare {
                    lhs: Expr::Field(path(f)?),
                    op: *op,
                    value: v.clone(),
                }
            }
            Cond::Like(f, p) => Condition::Like {
                lhs: Expr::Field(path(f)?),
                pattern: LikeValue::Pattern(p.clone()),
            },
            Cond::In(f, negated, vs) => Condition::InList {
                lhs: Expr::Field(path(f)?),
                negated: *negated,
                values: values(vs)?,
            },
            Cond::Includes(f, excludes, vs) => Condition::Includes {
                lhs: Expr::Field(path(f)?),
                excludes: *excludes,
                values: values(vs)?,
            },
            // A one-item group is just its item.
            Cond::And(cs) | Cond::Or(cs) if cs.len() == 1 => cs[0].build()?,
            Cond::And(cs) if cs.is_empty() => return Err(invalid("AND ()")),
            Cond::Or(cs) if cs.is_empty() => return Err(invalid("OR ()")),
            Cond::And(cs) => Condition::And(group(cs)?),
            Cond::Or(cs) => Condition::Or(group(cs)?),
            Cond::Not(c) => Condition::Not(Box::new(c.build()?)),
        })
    }
}

/// Builds a `SELECT` query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryBuilder {
    object: String,
    fields: Vec<String>,
    children: Vec<QueryBuilder>,
    filter: Option<Cond>,
    order_by: Vec<(String, Direction)>,
    limit: Option<u64>,
    offset: Option<u64>,
}

impl QueryBuilder {
    /// A query on `object` (selecting `Id` unless fields are added).
    pub fn new(object: impl Into<String>) -> Self {
        QueryBuilder {
            object: object.into(),
            ..Default::default()
        }
    }

    /// Adds fields (plain or dotted paths) to the select list.
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Adds a child relationship subquery (its object is the relationship name, e.g. `Cases`).
    pub fn child(mut self, subquery: QueryBuilder) -> Self {
        self.children.push(subquery);
        self
    }

    /// Adds a condition, joined with `AND` to any condition already set.
    pub fn filter(mut self, cond: Cond) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(existing) => existing.and(cond),
            None => cond,
        });
        self
    }

    /// Adds an `ORDER BY` field.
    pub fn order_by(mut self, field: impl Into<String>, direction: Direction) -> Self {
        self.order_by.push((field.into(), direction));
        self
    }

    /// Sets `LIMIT`.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Sets `OFFSET`.
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// The checked query.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for an object, field or bind name that is not an identifier.
    pub fn build(&self) -> Result<Query> {
        let mut select = self
            .fields
            .iter()
            .map(|f| {
                Ok(SelectItem::Expr {
                    expr: Expr::Field(path(f)?),
                    alias: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if select.is_empty() {
            select.push(SelectItem::field(["Id"]));
        }
        for child in &self.children {
            select.push(SelectItem::Subquery(Box::new(child.build()?)));
        }
        let mut q = Query::new(select, object(&self.object)?);
        q.filter = self.filter.as_ref().map(Cond::build).transpose()?;
        q.order_by = self
            .order_by
            .iter()
            .map(|(f, d)| {
                Ok(OrderItem {
                    expr: Expr::Field(path(f)?),
                    direction: Some(*d),
                    nulls: None,
                })
            })
            .collect::<Result<_>>()?;
        q.limit = self.limit;
        q.offset = self.offset;
        Ok(q)
    }

    /// The query's SOQL text.
    ///
    /// # Errors
    /// As [`QueryBuilder::build`].
    pub fn to_soql(&self) -> Result<String> {
        Ok(self.build()?.to_string())
    }
}

/// One `RETURNING` object of a [`SearchBuilder`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReturningBuilder {
    object: String,
    fields: Vec<String>,
    filter: Option<Cond>,
    order_by: Vec<(String, Direction)>,
    limit: Option<u64>,
}

impl ReturningBuilder {
    /// Returns `object` (with only `Id` unless fields are added).
    pub fn new(object: impl Into<String>) -> Self {
        ReturningBuilder {
            object: object.into(),
            ..Default::default()
        }
    }

    /// Adds fields to return.
    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Adds a `WHERE` condition, joined with `AND` to any already set.
    pub fn filter(mut self, cond: Cond) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(existing) => existing.and(cond),
            None => cond,
        });
        self
    }

    /// Adds an `ORDER BY` field.
    pub fn order_by(mut self, field: impl Into<String>, direction: Direction) -> Self {
        self.order_by.push((field.into(), direction));
        self
    }

    /// Sets this object's `LIMIT`.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    fn build(&self) -> Result<Returning> {
        let mut fields = self
            .fields
            .iter()
            .map(|f| {
                Ok(SelectItem::Expr {
                    expr: Expr::Field(path(f)?),
                    alias: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let has_clauses =
            self.filter.is_some() || !self.order_by.is_empty() || self.limit.is_some();
        if fields.is_empty() && has_clauses {
            fields.push(SelectItem::field(["Id"]));
        }
        let mut r = Returning::new(object(&self.object)?, fields);
        r.filter = self.filter.as_ref().map(Cond::build).transpose()?;
        r.order_by = self
            .order_by
            .iter()
            .map(|(f, d)| {
                Ok(OrderItem {
                    expr: Expr::Field(path(f)?),
                    direction: Some(*d),
                    nulls: None,
                })
            })
            .collect::<Result<_>>()?;
        r.limit = self.limit;
        Ok(r)
    }
}

/// Builds a SOSL search; the term's text is escaped by the printer.
///
/// ```
/// use callforce_soql::{ReturningBuilder, SearchBuilder, SearchGroup};
///
/// let sosl = SearchBuilder::phrase("+1 (555) 123-4567")
///     .in_fields(SearchGroup::Phone)
///     .returning(ReturningBuilder::new("Contact").fields(["Id", "Name"]))
///     .to_sosl()
///     .unwrap();
/// assert_eq!(
///     sosl,
///     r#"FIND {"\+1 \(555\) 123\-4567"} IN PHONE FIELDS RETURNING Contact(Id, Name)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchBuilder {
    term: SearchExpr,
    in_fields: Option<SearchGroup>,
    returning: Vec<ReturningBuilder>,
    limit: Option<u64>,
}

impl SearchBuilder {
    /// Searches for `text` as one exact phrase.
    pub fn phrase(text: impl Into<String>) -> Self {
        Self::term(SearchExpr::Phrase(text.into()))
    }

    /// Searches for every whitespace-separated word of `text` (joined by `AND`), each literal.
    pub fn words(text: &str) -> Self {
        let mut words: Vec<SearchExpr> = text
            .split_whitespace()
            .map(|w| SearchExpr::Word(SearchWord::literal(w)))
            .collect();
        let term = match words.len() {
            0 => SearchExpr::Phrase(String::new()),
            1 => words.remove(0),
            _ => SearchExpr::And(words),
        };
        Self::term(term)
    }

    /// Searches for a term built by hand (wildcards, `OR`, `AND NOT`).
    pub fn term(term: SearchExpr) -> Self {
        SearchBuilder {
            term,
            in_fields: None,
            returning: Vec::new(),
            limit: None,
        }
    }

    /// Sets `IN ... FIELDS`.
    pub fn in_fields(mut self, group: SearchGroup) -> Self {
        self.in_fields = Some(group);
        self
    }

    /// Adds a `RETURNING` object.
    pub fn returning(mut self, r: ReturningBuilder) -> Self {
        self.returning.push(r);
        self
    }

    /// Sets the overall `LIMIT`.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// The checked search.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for a bad object or field name; [`ErrorKind::EmptySearchTerm`]
    /// for a term with an empty word.
    pub fn build(&self) -> Result<Search> {
        if has_empty_word(&self.term) {
            return Err(ParseError::new(ErrorKind::EmptySearchTerm, "", 0));
        }
        Ok(Search {
            term: self.term.clone(),
            in_fields: self.in_fields,
            returning: self
                .returning
                .iter()
                .map(ReturningBuilder::build)
                .collect::<Result<_>>()?,
            with: Vec::new(),
            limit: self.limit,
            update: None,
        })
    }

    /// The search's SOSL text.
    ///
    /// # Errors
    /// As [`SearchBuilder::build`].
    pub fn to_sosl(&self) -> Result<String> {
        Ok(self.build()?.to_string())
    }
}

fn has_empty_word(e: &SearchExpr) -> bool {
    match e {
        SearchExpr::Word(w) => {
            w.pieces.is_empty()
                || w.pieces
                    .iter()
                    .any(|p| matches!(p, WordPiece::Text(t) if t.is_empty()))
        }
        SearchExpr::Phrase(_) => false,
        SearchExpr::And(v) | SearchExpr::Or(v) => v.len() < 2 || v.iter().any(has_empty_word),
        SearchExpr::AndNot(l, r) => has_empty_word(l) || has_empty_word(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_query, parse_search};

    #[test]
    fn builder_exact_wire_table() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        let cases: Vec<(QueryBuilder, &str)> = vec![
            (QueryBuilder::new("Account"), "SELECT Id FROM Account"),
            (
                QueryBuilder::new("Contact")
                    .select(["Id", "Name"])
                    .filter(Cond::eq("LastName", "O'Brien")),
                r"SELECT Id, Name FROM Contact WHERE LastName = 'O\'Brien'",
            ),
            (
                QueryBuilder::new("Case").filter(Cond::eq("Subject", "a\\b\nc\td\"e")),
                r#"SELECT Id FROM Case WHERE Subject = 'a\\b\nc\td\"e'"#,
            ),
            (
                QueryBuilder::new("Account")
                    .filter(Cond::like("Name", LikePattern::starts_with("50%_off"))),
                r"SELECT Id FROM Account WHERE Name LIKE '50\%\_off%'",
            ),
            (
                QueryBuilder::new("Account")
                    .filter(Cond::like("Name", LikePattern::from_escaped("Ac%me_"))),
                "SELECT Id FROM Account WHERE Name LIKE 'Ac%me_'",
            ),
            (
                QueryBuilder::new("Account")
                    .filter(Cond::is_in("Type", ["A", "B"]))
                    .filter(Cond::not_null("Phone"))
                    .filter(Cond::gt("NumberOfEmployees", 10i64).or(Cond::lt("CreatedDate", d)))
                    .order_by("Name", Direction::Asc)
                    .order_by("CreatedDate", Direction::Desc)
                    .limit(10)
                    .offset(20),
                "SELECT Id FROM Account WHERE Type IN ('A', 'B') AND Phone != null AND \
                 (NumberOfEmployees > 10 OR CreatedDate < 2024-01-31) \
                 ORDER BY Name ASC, CreatedDate DESC LIMIT 10 OFFSET 20",
            ),
            (
                QueryBuilder::new("Contact")
                    .select(["Id"])
                    .filter(Cond::eq("IsDeleted", false).not())
                    .filter(Cond::eq("CreatedDate", DateLiteral::LastN(Unit::Days, 7))),
                "SELECT Id FROM Contact WHERE NOT IsDeleted = false AND CreatedDate = LAST_N_DAYS:7",
            ),
            (
                QueryBuilder::new("Contact")
                    .select(["Id", "Name", "Account.Name"])
                    .child(
                        QueryBuilder::new("Cases")
                            .select(["Id", "CaseNumber"])
                            .order_by("CreatedDate", Direction::Desc)
                            .limit(3),
                    )
                    .filter(Cond::eq("Phone", "+15551234567")),
                "SELECT Id, Name, Account.Name, (SELECT Id, CaseNumber FROM Cases ORDER BY CreatedDate DESC LIMIT 3) \
                 FROM Contact WHERE Phone = '+15551234567'",
            ),
            (
                QueryBuilder::new("Lead").filter(Cond::includes("Interests__c", ["a;b", "c"])),
                "SELECT Id FROM Lead WHERE Interests__c INCLUDES ('a;b', 'c')",
            ),
        ];
        for (b, want) in cases {
            let soql = b.to_soql().unwrap();
            assert_eq!(soql, want);
            assert_eq!(parse_query(&soql).unwrap(), b.build().unwrap(), "{soql}");
        }
    }

    #[test]
    fn builder_refuses_names_that_are_not_identifiers() {
        let bad = [
            QueryBuilder::new("Account WHERE Id != null"),
            QueryBuilder::new("Account").select(["Id, Name"]),
            QueryBuilder::new("Account").select(["Name FROM Contact --"]),
            QueryBuilder::new("Account").filter(Cond::eq("Name = 'x' OR Name", "y")),
            QueryBuilder::new("Account").filter(Cond::eq("Name", Value::Bind("x OR y".into()))),
            QueryBuilder::new("Account").order_by("Name; DROP", Direction::Asc),
            QueryBuilder::new("Account").filter(Cond::eq("", "y")),
            QueryBuilder::new("Account").filter(Cond::eq("Account..Name", "y")),
            QueryBuilder::new("Account").filter(Cond::is_in("Type", Vec::<Value>::new())),
            QueryBuilder::new("USD100"),
        ];
        for b in bad {
            let err = b.build().unwrap_err();
            assert!(
                matches!(err.kind, ErrorKind::InvalidName { .. }),
                "{b:?}: {err:?}"
            );
        }
    }

    #[test]
    fn search_builder_exact_wire_table() {
        let cases: Vec<(SearchBuilder, &str)> = vec![
            (SearchBuilder::words("Acme"), "FIND {Acme}"),
            (SearchBuilder::words("John  Smith"), "FIND {John AND Smith}"),
            (SearchBuilder::words("a-b and"), r"FIND {a\-b AND \and}"),
            (
                SearchBuilder::phrase("} RETURNING User"),
                r#"FIND {"\} RETURNING User"}"#,
            ),
            (
                SearchBuilder::phrase("x")
                    .in_fields(SearchGroup::Email)
                    .returning(
                        ReturningBuilder::new("Lead")
                            .fields(["Id", "Email"])
                            .filter(Cond::eq("IsConverted", false))
                            .limit(5),
                    )
                    .returning(ReturningBuilder::new("Contact"))
                    .limit(10),
                r#"FIND {"x"} IN EMAIL FIELDS RETURNING Lead(Id, Email WHERE IsConverted = false LIMIT 5), Contact LIMIT 10"#,
            ),
        ];
        for (b, want) in cases {
            let sosl = b.to_sosl().unwrap();
            assert_eq!(sosl, want);
            assert_eq!(parse_search(&sosl).unwrap(), b.build().unwrap(), "{sosl}");
        }
    }
}
