//! The printer: every AST node implements `Display` as canonical SOQL/SOSL text.
//!
//! Keywords are upper-case, names keep their spelling, lists are separated by `, `. Every
//! string literal is escaped (`\'`, `\\`, `\n`, `\t`, other control characters as `\uXXXX`), so
//! printing a tree and parsing the text gives the same tree back. Nested `AND`/`OR` groups are
//! always parenthesised, which keeps the tree's shape on the way back.

use std::fmt::{self, Display, Formatter, Write};

use chrono::{Offset, Timelike};

use crate::ast::*;
use crate::sosl::escape_search_text;

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes `s` as a single-quoted SOQL string literal, escaping everything that needs it.
/// `like` keeps backslash escapes of `%`, `_` and `\` as they are (the text is a [`LikePattern`]).
fn write_quoted(f: &mut impl Write, s: &str, like: bool) -> fmt::Result {
    f.write_char('\'')?;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if like && matches!(chars.peek(), Some('\\' | '%' | '_')) => {
                f.write_char('\\')?;
                if let Some(n) = chars.next() {
                    f.write_char(n)?;
                }
            }
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c.is_control() && (c as u32) <= 0xFFFF => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

/// Quotes `s` as a SOQL string literal with every special character escaped.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // NB: writing to a String cannot fail.
    let _ = write_quoted(&mut out, s, false);
    out
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        join(f, &self.select)?;
        write!(f, " FROM {}", self.from.object)?;
        if let Some(a) = &self.from.alias {
            write!(f, " {a}")?;
        }
        if let Some(s) = &self.using_scope {
            write!(f, " USING SCOPE {s}")?;
        }
        if let Some(c) = &self.filter {
            write!(f, " WHERE {c}")?;
        }
        if let Some(w) = &self.with {
            write!(f, " WITH {w}")?;
        }
        if let Some(g) = &self.group_by {
            write!(f, " GROUP BY {g}")?;
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            join(f, &self.order_by)?;
        }
        if let Some(n) = self.limit {
            write!(f, " LIMIT {n}")?;
        }
        if let Some(n) = self.offset {
            write!(f, " OFFSET {n}")?;
        }
        if let Some(c) = self.for_clause {
            f.write_str(match c {
                ForClause::View => " FOR VIEW",
                ForClause::Reference => " FOR REFERENCE",
                ForClause::Update => " FOR UPDATE",
            })?;
        }
        if let Some(u) = self.update {
            write!(f, " UPDATE {u}")?;
        }
        Ok(())
    }
}

impl Display for UpdateClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpdateClause::Tracking => "TRACKING",
            UpdateClause::Viewstat => "VIEWSTAT",
        })
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Expr { expr, alias } => {
                write!(f, "{expr}")?;
                if let Some(a) = alias {
                    write!(f, " {a}")?;
                }
                Ok(())
            }
            SelectItem::Subquery(q) => write!(f, "({q})"),
            SelectItem::Fields(k) => f.write_str(match k {
                FieldsKind::All => "FIELDS(ALL)",
                FieldsKind::Standard => "FIELDS(STANDARD)",
                FieldsKind::Custom => "FIELDS(CUSTOM)",
            }),
            SelectItem::TypeOf(t) => write!(f, "{t}"),
        }
    }
}

impl Display for TypeOf {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "TYPEOF {}", self.relationship)?;
        for w in &self.whens {
            write!(f, " WHEN {} THEN ", w.object)?;
            join(f, &w.fields)?;
        }
        if !self.otherwise.is_empty() {
            f.write_str(" ELSE ")?;
            join(f, &self.otherwise)?;
        }
        f.write_str(" END")
    }
}

impl Display for FieldPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Field(p) => write!(f, "{p}"),
            Expr::Call(c) => write!(f, "{c}"),
        }
    }
}

impl Display for FunctionCall {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        join(f, &self.args)?;
        f.write_char(')')
    }
}

impl Display for FunctionArg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FunctionArg::Expr(e) => write!(f, "{e}"),
            FunctionArg::Value(v) => write!(f, "{v}"),
        }
    }
}

impl Display for WithClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WithClause::SecurityEnforced => f.write_str("SECURITY_ENFORCED"),
            WithClause::UserMode => f.write_str("USER_MODE"),
            WithClause::SystemMode => f.write_str("SYSTEM_MODE"),
            WithClause::DataCategory(filters) => {
                f.write_str("DATA CATEGORY ")?;
                write_category_filters(f, filters)
            }
        }
    }
}

fn write_category_filters(f: &mut Formatter<'_>, filters: &[DataCategoryFilter]) -> fmt::Result {
    for (i, flt) in filters.iter().enumerate() {
        if i > 0 {
            f.write_str(" AND ")?;
        }
        let sel = match flt.selector {
            CategorySelector::At => "AT",
            CategorySelector::Above => "ABOVE",
            CategorySelector::Below => "BELOW",
            CategorySelector::AboveOrBelow => "ABOVE_OR_BELOW",
        };
        write!(f, "{} {sel} ", flt.group)?;
        if flt.categories.len() == 1 {
            f.write_str(&flt.categories[0])?;
        } else {
            f.write_char('(')?;
            join(f, &flt.categories)?;
            f.write_char(')')?;
        }
    }
    Ok(())
}

impl Display for GroupBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (open, close) = match self.kind {
            GroupKind::Plain => ("", ""),
            GroupKind::Rollup => ("ROLLUP(", ")"),
            GroupKind::Cube => ("CUBE(", ")"),
        };
        f.write_str(open)?;
        join(f, &self.items)?;
        f.write_str(close)
    }
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        match self.direction {
            Some(Direction::Asc) => f.write_str(" ASC")?,
            Some(Direction::Desc) => f.write_str(" DESC")?,
            None => {}
        }
        match self.nulls {
            Some(Nulls::First) => f.write_str(" NULLS FIRST"),
            Some(Nulls::Last) => f.write_str(" NULLS LAST"),
            None => Ok(()),
        }
    }
}

/// Writes a condition operand, parenthesised when it is itself an `AND` or `OR`.
fn write_operand(f: &mut Formatter<'_>, c: &Condition) -> fmt::Result {
    match c {
        Condition::And(_) | Condition::Or(_) => write!(f, "({c})"),
        _ => write!(f, "{c}"),
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare { lhs, op, value } => write!(f, "{lhs} {} {value}", op.as_str()),
            Condition::Like { lhs, pattern } => match pattern {
                LikeValue::Pattern(p) => {
                    write!(f, "{lhs} LIKE ")?;
                    write_quoted(f, p.as_str(), true)
                }
                LikeValue::Bind(b) => write!(f, "{lhs} LIKE :{b}"),
            },
            Condition::InList {
                lhs,
                negated,
                values,
            } => {
                let op = if *negated { "NOT IN" } else { "IN" };
                if let [Value::Bind(b)] = values.as_slice() {
                    return write!(f, "{lhs} {op} :{b}");
                }
                write!(f, "{lhs} {op} (")?;
                join(f, values)?;
                f.write_char(')')
            }
            Condition::InQuery {
                lhs,
                negated,
                query,
            } => {
                let op = if *negated { "NOT IN" } else { "IN" };
                write!(f, "{lhs} {op} ({query})")
            }
            Condition::Includes {
                lhs,
                excludes,
                values,
            } => {
                let op = if *excludes { "EXCLUDES" } else { "INCLUDES" };
                write!(f, "{lhs} {op} (")?;
                join(f, values)?;
                f.write_char(')')
            }
            Condition::And(items) | Condition::Or(items) => {
                let op = if matches!(self, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, c) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write_operand(f, c)?;
                }
                Ok(())
            }
            Condition::Not(c) => {
                f.write_str("NOT ")?;
                write_operand(f, c)
            }
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(n.as_str()),
            Value::Currency { code, amount } => write!(f, "{code}{}", amount.as_str()),
            Value::String(s) => write_quoted(f, s, false),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::DateTime(dt) => {
                write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%S"))?;
                let nanos = dt.nanosecond() % 1_000_000_000;
                if nanos != 0 {
                    let frac = format!("{nanos:09}");
                    write!(f, ".{}", frac.trim_end_matches('0'))?;
                }
                let secs = dt.offset().fix().local_minus_utc();
                if secs == 0 {
                    f.write_char('Z')
                } else {
                    let sign = if secs < 0 { '-' } else { '+' };
                    let a = secs.unsigned_abs();
                    write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
                }
            }
            Value::DateLiteral(d) => f.write_str(&d.to_text()),
            Value::Bind(b) => write!(f, ":{b}"),
        }
    }
}

impl Display for DateLiteral {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Display for Search {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "FIND {{{}}}", self.term)?;
        if let Some(g) = self.in_fields {
            f.write_str(match g {
                SearchGroup::All => " IN ALL FIELDS",
                SearchGroup::Name => " IN NAME FIELDS",
                SearchGroup::Email => " IN EMAIL FIELDS",
                SearchGroup::Phone => " IN PHONE FIELDS",
                SearchGroup::Sidebar => " IN SIDEBAR FIELDS",
            })?;
        }
        if !self.returning.is_empty() {
            f.write_str(" RETURNING ")?;
            join(f, &self.returning)?;
        }
        for w in &self.with {
            write!(f, " WITH {w}")?;
        }
        if let Some(n) = self.limit {
            write!(f, " LIMIT {n}")?;
        }
        if let Some(u) = self.update {
            write!(f, " UPDATE {u}")?;
        }
        Ok(())
    }
}

impl Display for Returning {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.object)?;
        if self.fields.is_empty() {
            return Ok(());
        }
        f.write_char('(')?;
        join(f, &self.fields)?;
        if let Some(c) = &self.filter {
            write!(f, " WHERE {c}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            join(f, &self.order_by)?;
        }
        if let Some(n) = self.limit {
            write!(f, " LIMIT {n}")?;
        }
        if let Some(n) = self.offset {
            write!(f, " OFFSET {n}")?;
        }
        f.write_char(')')
    }
}

impl Display for SearchWith {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.arg {
            SearchWithArg::DataCategory(filters) => {
                f.write_str("DATA CATEGORY ")?;
                write_category_filters(f, filters)
            }
            SearchWithArg::None => f.write_str(&self.name),
            SearchWithArg::Eq(v) => write!(f, "{} = {v}", self.name),
            SearchWithArg::In(vs) => {
                write!(f, "{} IN (", self.name)?;
                join(f, vs)?;
                f.write_char(')')
            }
            SearchWithArg::Params(ps) => {
                write!(f, "{} (", self.name)?;
                for (i, (k, v)) in ps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_char(')')
            }
        }
    }
}

fn write_search_operand(f: &mut Formatter<'_>, e: &SearchExpr) -> fmt::Result {
    match e {
        SearchExpr::Word(_) | SearchExpr::Phrase(_) => write!(f, "{e}"),
        _ => write!(f, "({e})"),
    }
}

impl Display for SearchExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SearchExpr::Word(w) => write!(f, "{w}"),
            SearchExpr::Phrase(p) => {
                f.write_char('"')?;
                for c in p.chars() {
                    // NB: `}` must be escaped even in a phrase: it would end the braces.
                    if crate::sosl::RESERVED_CHARS.contains(&c) {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
            SearchExpr::And(items) | SearchExpr::Or(items) => {
                let op = if matches!(self, SearchExpr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write_search_operand(f, e)?;
                }
                Ok(())
            }
            SearchExpr::AndNot(l, r) => {
                write_search_operand(f, l)?;
                f.write_str(" AND NOT ")?;
                write_search_operand(f, r)
            }
        }
    }
}

impl Display for SearchWord {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let is_operator = self.text().is_some_and(|t| {
            ["AND", "OR", "NOT"]
                .iter()
                .any(|op| t.eq_ignore_ascii_case(op))
        });
        for p in &self.pieces {
            match p {
                WordPiece::Any => f.write_char('*')?,
                WordPiece::One => f.write_char('?')?,
                WordPiece::Text(t) if is_operator => {
                    // An escaped first letter keeps the word from reading as an operator.
                    f.write_char('\\')?;
                    f.write_str(t)?;
                }
                WordPiece::Text(t) => f.write_str(&escape_search_text(t))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_query, parse_search};

    #[test]
    fn canonical_printing_table() {
        let cases = [
            (
                "select id, name from account where name = 'Acme' and (type = 'x' or type = 'y')",
                "SELECT id, name FROM account WHERE name = 'Acme' AND (type = 'x' OR type = 'y')",
            ),
            (
                "SELECT Id FROM Case WHERE Subject LIKE 'It\\'s 50\\%%' AND Origin <> 'Web'",
                "SELECT Id FROM Case WHERE Subject LIKE 'It\\'s 50\\%%' AND Origin != 'Web'",
            ),
            (
                "SELECT Id FROM Task WHERE Description = 'line1\\nline2\\ttab \\\\ \\u0001'",
                "SELECT Id FROM Task WHERE Description = 'line1\\nline2\\ttab \\\\ \\u0001'",
            ),
            (
                "SELECT Id FROM Event WHERE StartDateTime > 2024-01-31T10:00:00.000+0000 AND ActivityDate = 2024-01-31",
                "SELECT Id FROM Event WHERE StartDateTime > 2024-01-31T10:00:00Z AND ActivityDate = 2024-01-31",
            ),
            (
                "SELECT Id FROM Event WHERE StartDateTime > 2024-01-31T10:00:00.250+01:00",
                "SELECT Id FROM Event WHERE StartDateTime > 2024-01-31T10:00:00.25+01:00",
            ),
            (
                "SELECT Id FROM Account WHERE NOT (A = 1 OR B = 2) AND C IN (1, 2) AND D NOT IN ('x')",
                "SELECT Id FROM Account WHERE NOT (A = 1 OR B = 2) AND C IN (1, 2) AND D NOT IN ('x')",
            ),
            (
                "SELECT Id FROM Contact WHERE Id IN :ids AND Name LIKE :pat",
                "SELECT Id FROM Contact WHERE Id IN :ids AND Name LIKE :pat",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(parse_query(src).unwrap().to_string(), want, "{src}");
        }
    }

    #[test]
    fn canonical_search_printing_table() {
        let cases = [
            (
                "find {Acme*} in name fields returning Account(Id, Name where Type = 'x' limit 5), Contact",
                "FIND {Acme*} IN NAME FIELDS RETURNING Account(Id, Name WHERE Type = 'x' LIMIT 5), Contact",
            ),
            (
                "FIND {\\+1555\\-1234 OR \"a b\"} RETURNING Contact(Id) WITH HIGHLIGHT LIMIT 3",
                "FIND {\\+1555\\-1234 OR \"a b\"} RETURNING Contact(Id) WITH HIGHLIGHT LIMIT 3",
            ),
            ("FIND 'Acme Corp'", "FIND {Acme AND Corp}"),
        ];
        for (src, want) in cases {
            assert_eq!(parse_search(src).unwrap().to_string(), want, "{src}");
        }
    }
}
