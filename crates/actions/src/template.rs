//! Liquid templating for custom actions and argument references: call variables and earlier
//! results (`{{search_contact.Id}}`), values escaped for where they land (SOQL literal, LIKE
//! pattern, JSON string, URL path segment), optional placeholders left unfilled removed (a body
//! field disappears, a `WHERE` conjunct is dropped), a `date` filter that reads ISO 8601, and
//! math filters that refuse to overflow (`math`).

use std::collections::HashSet;
use std::fmt::Write as _;

use liquid_core::{
    Display_filter, Error as LiquidError, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Runtime, Value as LValue, ValueView,
};
use serde_json::{Map, Value};

use crate::error::ActionError;

mod math;

/// Where a rendered value lands, which decides how it is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Inside a SOQL string literal (`'...'`).
    SoqlString,
    /// Inside the quoted pattern of a SOQL `LIKE` (`%` and `_` are literal).
    SoqlLike,
    /// Bare in SOQL text: only numbers, booleans, ids and date literals are accepted.
    SoqlBare,
    /// One URL path segment.
    PathSegment,
    /// A JSON string or query parameter (escaped by the serializer).
    Text,
}

/// Escapes `s` for `dest`.
///
/// # Errors
/// For [`Dest::SoqlBare`] a value that is not a plain token, and for [`Dest::PathSegment`]
/// `.` or `..`.
pub fn escape(dest: Dest, s: &str) -> Result<String, ActionError> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    Ok(match dest {
        Dest::Text => s,
        Dest::SoqlString => {
            let q = callforce_soql::quote_string(&s);
            q[1..q.len() - 1].to_owned()
        }
        Dest::SoqlLike => {
            let mut out = String::with_capacity(s.len() + 4);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '%' => out.push_str("\\%"),
                    '_' => out.push_str("\\_"),
                    '\'' => out.push_str("\\'"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out
        }
        Dest::SoqlBare => {
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:+-".contains(c));
            if !ok {
                return Err(ActionError::template(format!(
                    "'{s}' cannot be placed outside quotes in a query; quote the placeholder"
                )));
            }
            s
        }
        Dest::PathSegment => {
            if s == "." || s == ".." || s.is_empty() {
                return Err(ActionError::template(format!(
                    "'{s}' is not a path segment"
                )));
            }
            let mut out = String::with_capacity(s.len());
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    out.push(b as char);
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            out
        }
    })
}

/// An ISO 8601 date-time (with or without offset, fractional seconds, a space for `T`) as
/// Salesforce's UTC form `2026-02-12T10:00:00.000Z`; a time without offset is taken as UTC.
pub fn iso_datetime(s: &str) -> Option<String> {
    iso_datetime_in(s, crate::zone::Tz::UTC)
}

/// [`iso_datetime`], a time without offset read as a local time in `zone` (see
/// [`crate::zone::read_datetime`]).
pub fn iso_datetime_in(s: &str, zone: crate::zone::Tz) -> Option<String> {
    crate::zone::read_datetime(s, zone).map(|utc| utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// An ISO 8601 date (`2026-02-12`), also taken from a date-time (its date in UTC).
pub fn iso_date(s: &str) -> Option<String> {
    iso_date_in(s, crate::zone::Tz::UTC)
}

/// [`iso_date`], a date-time's date being the one in `zone` (see
/// [`crate::zone::read_date`]).
pub fn iso_date_in(s: &str, zone: crate::zone::Tz) -> Option<String> {
    crate::zone::read_date(s, zone).map(|d| d.to_string())
}

#[derive(Debug, FilterParameters)]
struct DateArgs {
    #[parameter(description = "A strftime format such as %Y-%m-%d.", arg_type = "str")]
    format: Expression,
}

/// The `date` filter: reads ISO 8601 dates and date-times (and `now`/`today`), writes them
/// with a strftime format.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "date",
    description = "Formats an ISO 8601 date or date-time with a strftime format.",
    parameters(DateArgs),
    parsed(DateFilter)
)]
pub struct IsoDate;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "date"]
struct DateFilter {
    #[parameters]
    args: DateArgs,
}

impl Filter for DateFilter {
    fn evaluate(
        &self,
        input: &dyn ValueView,
        runtime: &dyn Runtime,
    ) -> liquid_core::Result<LValue> {
        let args = self.args.evaluate(runtime)?;
        let text = input.to_kstr().to_string();
        // NB: a date-time keeps the offset it was written with (`{{ now | date: '%H:%M' }}` is
        // the call's local time), as Liquid's own `date` does.
        let dt = match text.trim() {
            "now" | "today" => chrono::Utc::now().fixed_offset(),
            t => {
                let written = chrono::DateTime::parse_from_rfc3339(t)
                    .or_else(|_| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
                    .ok();
                let utc = || {
                    crate::zone::read_datetime(t, crate::zone::Tz::UTC)
                        .or_else(|| {
                            crate::zone::read_date(t, crate::zone::Tz::UTC)
                                .and_then(|d| d.and_hms_opt(0, 0, 0))
                                .map(|d| d.and_utc())
                        })
                        .map(|d| d.fixed_offset())
                };
                match written.or_else(utc) {
                    Some(d) => d,
                    None => {
                        return Err(LiquidError::with_msg(format!(
                            "'{t}' is not an ISO 8601 date"
                        )));
                    }
                }
            }
        };
        let mut out = String::new();
        write!(out, "{}", dt.format(args.format.as_str()))
            .map_err(|_| LiquidError::with_msg(format!("invalid date format '{}'", args.format)))?;
        Ok(LValue::scalar(out))
    }
}

/// A piece of template text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Expr(String),
}

fn pieces(text: &str) -> Result<Vec<Piece>, ActionError> {
    if text.contains("{%") {
        return Err(ActionError::template(
            "Liquid tags ({% %}) are not supported here; use {{ }} placeholders",
        ));
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Lit(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(ActionError::template("a '{{' placeholder is not closed"));
        };
        out.push(Piece::Expr(after[..end].trim().to_owned()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest.to_owned()));
    }
    Ok(out)
}

/// Checks that `text` is a usable template: placeholders closed, no tags, each one parsing
/// as a Liquid expression.
///
/// # Errors
/// A template error naming the problem.
pub fn check(templating: &Templating, text: &str) -> Result<(), ActionError> {
    for p in pieces(text)? {
        if let Piece::Expr(e) = p {
            if e.is_empty() {
                return Err(ActionError::template("an empty {{ }} placeholder"));
            }
            templating
                .parser
                .parse(&format!("{{{{ {e} }}}}"))
                .map_err(|err| {
                    ActionError::template(format!("bad placeholder {{{{{e}}}}}: {err}"))
                })?;
        }
    }
    Ok(())
}

fn root(expr: &str) -> &str {
    let end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    &expr[..end]
}

fn is_path(expr: &str) -> bool {
    !expr.is_empty()
        && expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// The key of `m` named `key`: itself, else one equal ignoring case (Salesforce's field names
/// are case-insensitive, so `{{search_contact.id}}` is `{{search_contact.Id}}`).
fn key_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    if let Some((k, _)) = m.get_key_value(key) {
        return Some(k);
    }
    m.keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(String::as_str)
}

/// The value at a dotted `path` of a template context (`search_contact.Id`, `last.Case.Id`,
/// an array index as a segment), each name matched ignoring case when it is not found as
/// written.
pub fn lookup<'a>(ctx: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segs = path.split('.');
    let mut v = ctx.get(key_of(ctx, segs.next()?)?)?;
    for s in segs {
        v = match v {
            Value::Object(m) => m.get(key_of(m, s)?)?,
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// `expr` with the variable path it starts with spelled as the context spells it
/// (`search_contact.id | upcase` becomes `search_contact.Id | upcase`), for Liquid, whose
/// names are case-sensitive.
fn canonical_expr(ctx: &Map<String, Value>, expr: &str) -> String {
    let end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(expr.len());
    let (path, rest) = expr.split_at(end);
    let mut out = Vec::new();
    let mut m = Some(ctx);
    for seg in path.split('.') {
        let key = m.and_then(|m| key_of(m, seg)).unwrap_or(seg);
        m = m.and_then(|m| m.get(key)).and_then(Value::as_object);
        out.push(key);
    }
    format!("{}{rest}", out.join("."))
}

fn blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.is_empty())
}

/// The marker an unfilled optional placeholder leaves in SOQL until its clause is dropped.
const UNFILLED: &str = "\u{1}unfilled\u{1}";

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The Liquid parser (standard filters plus the ISO 8601 `date`).
pub struct Templating {
    parser: liquid::Parser,
}

impl Default for Templating {
    fn default() -> Self {
        Self::new()
    }
}

impl Templating {
    /// A parser with the standard library, the ISO 8601 `date` filter, and checked math
    /// filters in place of the standard ones (an overflow is an error naming the filter,
    /// never a panic or a wrapped number).
    pub fn new() -> Self {
        let builder = math::Op::ALL
            .into_iter()
            .fold(liquid::ParserBuilder::with_stdlib(), |b, op| {
                b.filter(math::Checked(op))
            });
        let parser = builder
            .filter(IsoDate)
            .build()
            // NB: building from the standard library and one filter cannot fail.
            .unwrap_or_else(|_| liquid::Parser::new());
        Self { parser }
    }

    /// The value of one `{{ expr }}`: typed for a plain path, else the rendered text.
    /// `None` when it is unfilled (its variable is missing or blank).
    ///
    /// # Errors
    /// A template error for a bad expression or a failing filter.
    pub fn eval(&self, expr: &str, ctx: &Map<String, Value>) -> Result<Option<Value>, ActionError> {
        if is_path(expr) {
            return Ok(lookup(ctx, expr).filter(|v| !blank(v)).cloned());
        }
        match key_of(ctx, root(expr)).and_then(|k| ctx.get(k)) {
            None => return Ok(None),
            Some(v) if blank(v) => return Ok(None),
            _ => {}
        }
        let canonical = canonical_expr(ctx, expr);
        let tpl = self
            .parser
            .parse(&format!("{{{{ {canonical} }}}}"))
            .map_err(|e| ActionError::template(format!("bad placeholder {{{{{expr}}}}}: {e}")))?;
        let globals = liquid::model::to_object(ctx)
            .map_err(|e| ActionError::template(format!("context: {e}")))?;
        let out = tpl
            .render(&globals)
            .map_err(|e| ActionError::template(format!("{{{{{expr}}}}}: {e}")))?;
        Ok(if out.is_empty() {
            None
        } else {
            Some(Value::String(out))
        })
    }

    /// Renders `text` with every placeholder escaped for `dest`; an unfilled one is an error
    /// naming it.
    ///
    /// # Errors
    /// A missing value or a template error.
    pub fn render(
        &self,
        text: &str,
        dest: Dest,
        ctx: &Map<String, Value>,
    ) -> Result<String, ActionError> {
        let mut out = String::new();
        for p in pieces(text)? {
            match p {
                Piece::Lit(l) => out.push_str(&l),
                Piece::Expr(e) => match self.eval(&e, ctx)? {
                    Some(v) => out.push_str(&escape(dest, &text_of(&v))?),
                    None => return Err(unfilled(&e, ctx, None)),
                },
            }
        }
        Ok(out)
    }

    /// Resolves references in string arguments (`"{{search_contact.Id}}"`): a lone
    /// placeholder keeps its value's type; text around placeholders is kept. Field names are
    /// matched ignoring case, as Salesforce's are (`{{search_contact.id}}`).
    ///
    /// # Errors
    /// A reference to nothing (`{{search_contact.Id}}` before any search), saying why: the
    /// action has not run, it ran and found nothing, its result has no such field; see
    /// [`Templating::resolve_args_of`] for a reference to an action that does not exist.
    pub fn resolve_args(
        &self,
        args: Map<String, Value>,
        ctx: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ActionError> {
        self.resolve_args_of(args, ctx, None)
    }

    /// [`Templating::resolve_args`] knowing the `actions` a reference may name: a reference to
    /// anything else (`{{serch_contact.Id}}`) is refused with the closest name.
    ///
    /// # Errors
    /// As [`Templating::resolve_args`].
    pub fn resolve_args_of(
        &self,
        args: Map<String, Value>,
        ctx: &Map<String, Value>,
        actions: Option<&[&str]>,
    ) -> Result<Map<String, Value>, ActionError> {
        args.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) if s.contains("{{") => {
                    let v = self
                        .render_value_of(&s, ctx, &HashSet::new(), actions)?
                        .unwrap_or(Value::Null);
                    Ok((k, v))
                }
                v => Ok((k, v)),
            })
            .collect()
    }

    /// A string template as a JSON value: a lone placeholder keeps its type; `None` when an
    /// optional placeholder is unfilled (the field is then left out).
    fn render_value(
        &self,
        s: &str,
        ctx: &Map<String, Value>,
        optional: &HashSet<String>,
    ) -> Result<Option<Value>, ActionError> {
        self.render_value_of(s, ctx, optional, None)
    }

    /// [`Templating::render_value`] knowing the actions a reference may name.
    fn render_value_of(
        &self,
        s: &str,
        ctx: &Map<String, Value>,
        optional: &HashSet<String>,
        known: Option<&[&str]>,
    ) -> Result<Option<Value>, ActionError> {
        let ps = pieces(s)?;
        if let [Piece::Expr(e)] = ps.as_slice() {
            return match self.eval(e, ctx)? {
                Some(v) => Ok(Some(v)),
                None if optional.contains(root(e)) => Ok(None),
                None => Err(unfilled(e, ctx, known)),
            };
        }
        let mut out = String::new();
        for p in ps {
            match p {
                Piece::Lit(l) => out.push_str(&l),
                Piece::Expr(e) => match self.eval(&e, ctx)? {
                    Some(v) => out.push_str(&text_of(&v)),
                    None if optional.contains(root(&e)) => return Ok(None),
                    None => return Err(unfilled(&e, ctx, known)),
                },
            }
        }
        Ok(Some(Value::String(out)))
    }

    /// Renders a JSON body template: string leaves rendered as values (so JSON escaping is the
    /// serializer's), fields whose optional placeholders are unfilled removed.
    ///
    /// # Errors
    /// A required placeholder unfilled, or a template error.
    pub fn render_body(
        &self,
        body: &Value,
        ctx: &Map<String, Value>,
        optional: &HashSet<String>,
    ) -> Result<Option<Value>, ActionError> {
        Ok(match body {
            Value::String(s) if s.contains("{{") => self.render_value(s, ctx, optional)?,
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    if let Some(v) = self.render_body(v, ctx, optional)? {
                        out.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(a) => {
                let mut out = Vec::new();
                for v in a {
                    if let Some(v) = self.render_body(v, ctx, optional)? {
                        out.push(v);
                    }
                }
                Some(Value::Array(out))
            }
            other => Some(other.clone()),
        })
    }

    /// Renders a SOQL template: a placeholder inside quotes is escaped as a string literal (as a
    /// LIKE pattern after `LIKE`), one outside quotes must be a plain token; the `WHERE`
    /// conjuncts (joined by `AND`) holding unfilled optional placeholders are dropped. The
    /// result is checked to parse.
    ///
    /// # Errors
    /// A required placeholder unfilled, an optional one outside `WHERE`, a template error, or
    /// a query that does not parse.
    pub fn render_soql(
        &self,
        text: &str,
        ctx: &Map<String, Value>,
        optional: &HashSet<String>,
    ) -> Result<String, ActionError> {
        let mut out = String::new();
        let mut in_quote = false;
        let mut quote_start = 0;
        for p in pieces(text)? {
            match p {
                Piece::Lit(l) => {
                    let mut chars = l.chars().peekable();
                    while let Some(c) = chars.next() {
                        if in_quote && c == '\\' {
                            out.push(c);
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                            continue;
                        }
                        if c == '\'' {
                            in_quote = !in_quote;
                            if in_quote {
                                quote_start = out.len();
                            }
                        }
                        out.push(c);
                    }
                }
                Piece::Expr(e) => {
                    let dest = if !in_quote {
                        Dest::SoqlBare
                    } else if out[..quote_start]
                        .trim_end()
                        .rsplit(|c: char| c.is_whitespace())
                        .next()
                        .is_some_and(|w| w.eq_ignore_ascii_case("LIKE"))
                    {
                        Dest::SoqlLike
                    } else {
                        Dest::SoqlString
                    };
                    match self.eval(&e, ctx)? {
                        Some(v) => out.push_str(&escape(dest, &text_of(&v))?),
                        None if optional.contains(root(&e)) => out.push_str(UNFILLED),
                        None => return Err(unfilled(&e, ctx, None)),
                    }
                }
            }
        }
        let soql = if out.contains(UNFILLED) {
            drop_unfilled(&out)?
        } else {
            out
        };
        callforce_soql::parse_query(&soql).map_err(|e| {
            ActionError::template(format!("the rendered query does not parse: {e}"))
        })?;
        Ok(soql)
    }
}

/// Why `{{expr}}` has no value, in words that stop a model from asking again for the same
/// thing: the action it names has not run (run it first), ran and found nothing (ask the
/// caller for something else), or has no such field (the fields it has); an action that does
/// not exist (when `known` lists those that do) gets the closest name.
fn unfilled(expr: &str, ctx: &Map<String, Value>, known: Option<&[&str]>) -> ActionError {
    let r = root(expr);
    let mut e = ActionError::missing("this action", vec![r.to_owned()]);
    let path = expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .next()
        .unwrap_or(r);
    if !expr.contains('.') {
        e.message = format!("this action needs {r}; ask the caller for it and try again").into();
        return e;
    }
    let Some(result) = key_of(ctx, r).and_then(|k| ctx.get(k)) else {
        if let Some(known) = known
            && !known.iter().any(|a| a.eq_ignore_ascii_case(r))
        {
            let names = known.iter().copied().chain(ctx.keys().map(String::as_str));
            e = ActionError::new(
                crate::error::ErrorCode::InvalidArgument,
                format!("{{{{{path}}}}} names no action or call variable '{r}'"),
            );
            if let Some(c) = crate::suggest::closest(r, names) {
                e.message = format!("{}; did you mean '{c}'?", e.message).into();
                e.suggestion = Some(c.into());
            }
            return e;
        }
        e.message =
            format!("{{{{{path}}}}} has no value yet; run {r} first or give the value directly")
                .into();
        return e;
    };
    let found_nothing = result
        .get("records")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        || result.get("count").and_then(Value::as_u64) == Some(0);
    if found_nothing {
        // The searches for the caller (not for a colleague: `search_users`).
        let person = ["contact", "lead", "customer", "person", "caller"]
            .iter()
            .any(|w| r.to_ascii_lowercase().contains(w));
        e.message = if person {
            format!(
                "{r} found no one, so {{{{{path}}}}} has no value; ask for the caller's name or email and search again with it (not the same search), or go on without it"
            )
        } else {
            format!(
                "{r} found nothing, so {{{{{path}}}}} has no value; ask the caller for another detail and search again with it (not the same search), or go on without it"
            )
        }
        .into();
        return e;
    }
    // The first step of the path that leads nowhere, and what there was at that point.
    let mut at = result;
    let mut field = r;
    for seg in path.split('.').skip(1) {
        field = seg;
        match at {
            Value::Object(m) => match key_of(m, seg).and_then(|k| m.get(k)) {
                Some(v) if !blank(v) => at = v,
                _ => break,
            },
            _ => break,
        }
    }
    let has: Vec<&str> = match at {
        Value::Object(m) => m
            .keys()
            .map(String::as_str)
            .filter(|k| !["records", "count", "omitted", "say"].contains(k))
            .collect(),
        _ => Vec::new(),
    };
    let no_object = r == "last" && std::ptr::eq(at, result);
    let whose = match r {
        _ if no_object => {
            "no record of that object was found or written in this call yet".to_owned()
        }
        "last" | "metadata" => format!("there is no {field}"),
        _ => format!("{r}'s result has no {field}"),
    };
    e.message = format!("{{{{{path}}}}} has no value: {whose}").into();
    if !has.is_empty() && !no_object {
        e.message = format!("{}; it has: {}", e.message, has.join(", ")).into();
        if let Some(c) = crate::suggest::closest(field, has.iter().copied()) {
            e.suggestion = Some(c.into());
        }
    }
    e
}

/// Top-level (outside quotes and parentheses) words of `s`, with their byte ranges.
fn top_words(s: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let (mut depth, mut in_quote, mut start) = (0i32, false, None::<usize>);
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if in_quote {
            if c == '\\' {
                it.next();
            } else if c == '\'' {
                in_quote = false;
            }
            continue;
        }
        let word_char = c.is_ascii_alphanumeric() || c == '_';
        if word_char && depth == 0 {
            start.get_or_insert(i);
        } else if let Some(st) = start.take() {
            words.push((st, i));
        }
        match c {
            '\'' => in_quote = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
    }
    if let Some(st) = start {
        words.push((st, s.len()));
    }
    words
}

/// Drops the `WHERE` conjuncts holding the unfilled marker (and `WHERE` when none is left).
fn drop_unfilled(s: &str) -> Result<String, ActionError> {
    let words = top_words(s);
    let is = |(a, b): (usize, usize), w: &str| s[a..b].eq_ignore_ascii_case(w);
    let Some(wi) = words.iter().position(|w| is(*w, "WHERE")) else {
        return Err(ActionError::template(
            "an optional placeholder may only be used in the WHERE clause",
        ));
    };
    let body_start = words[wi].1;
    let body_end = words[wi + 1..]
        .iter()
        .find(|w| {
            [
                "ORDER", "GROUP", "LIMIT", "OFFSET", "HAVING", "WITH", "FOR", "UPDATE",
            ]
            .iter()
            .any(|k| is(**w, k))
        })
        .map_or(s.len(), |w| w.0);
    if s[..words[wi].0].contains(UNFILLED) || s[body_end..].contains(UNFILLED) {
        return Err(ActionError::template(
            "an optional placeholder may only be used in the WHERE clause",
        ));
    }
    let mut conjuncts = Vec::new();
    let mut from = body_start;
    for w in words
        .iter()
        .filter(|w| w.0 > body_start && w.1 <= body_end && is(**w, "AND"))
    {
        conjuncts.push(&s[from..w.0]);
        from = w.1;
    }
    conjuncts.push(&s[from..body_end]);
    let kept: Vec<&str> = conjuncts
        .into_iter()
        .filter(|c| !c.contains(UNFILLED))
        .map(str::trim)
        .collect();
    let head = s[..words[wi].0].trim_end();
    let tail = s[body_end..].trim_start();
    let mut out = head.to_owned();
    if !kept.is_empty() {
        out.push_str(" WHERE ");
        out.push_str(&kept.join(" AND "));
    }
    if !tail.is_empty() {
        out.push(' ');
        out.push_str(tail);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> Map<String, Value> {
        serde_json::from_value(v).expect("object")
    }

    #[test]
    fn escaping_by_destination() {
        let cases = [
            (Dest::SoqlString, "O'Brien\\x", "O\\'Brien\\\\x"),
            (Dest::SoqlLike, "50%_off'", "50\\%\\_off\\'"),
            (Dest::PathSegment, "a/b c", "a%2Fb%20c"),
            (Dest::Text, "a\"b", "a\"b"),
            (Dest::SoqlBare, "003000000000001AAA", "003000000000001AAA"),
        ];
        for (d, input, want) in cases {
            assert_eq!(escape(d, input).expect("ok"), want, "{d:?}");
        }
        assert!(escape(Dest::SoqlBare, "1 OR Name != null").is_err());
        assert!(escape(Dest::PathSegment, "..").is_err());
    }

    #[test]
    fn iso_8601_forms_become_salesforce_utc() {
        for (i, want) in [
            ("2026-02-12T10:00:00Z", Some("2026-02-12T10:00:00.000Z")),
            ("2026-02-12T10:00:00.000Z", Some("2026-02-12T10:00:00.000Z")),
            (
                "2026-02-12T11:00:00+01:00",
                Some("2026-02-12T10:00:00.000Z"),
            ),
            (
                "2026-02-12T10:00:00.000+0000",
                Some("2026-02-12T10:00:00.000Z"),
            ),
            ("2026-02-12 10:00", Some("2026-02-12T10:00:00.000Z")),
            ("tomorrow", None),
        ] {
            assert_eq!(iso_datetime(i).as_deref(), want, "{i}");
        }
        assert_eq!(
            iso_date("2026-02-12T23:00:00Z").as_deref(),
            Some("2026-02-12")
        );
    }

    #[test]
    fn date_filter_reads_iso_8601() {
        let t = Templating::new();
        let c = ctx(json!({"when": "2026-02-12T10:30:00Z"}));
        assert_eq!(
            t.render("{{ when | date: '%d/%m/%Y %H:%M' }}", Dest::Text, &c)
                .expect("ok"),
            "12/02/2026 10:30"
        );
        // A date-time keeps the offset it was written with: the call's `now` is said locally.
        let c = ctx(json!({"now": "2026-12-08T21:30:00-05:00"}));
        assert_eq!(
            t.render("{{ now | date: '%Y-%m-%d %H:%M' }}", Dest::Text, &c)
                .expect("ok"),
            "2026-12-08 21:30"
        );
        let c = ctx(json!({"when": "not a date"}));
        assert!(t.render("{{ when | date: '%Y' }}", Dest::Text, &c).is_err());
    }

    #[test]
    fn unfilled_optional_where_clauses_are_dropped() {
        let t = Templating::new();
        let opt: HashSet<String> = ["search_term".to_owned(), "city".to_owned()].into();
        let tpl = "SELECT Id FROM Contact WHERE Name LIKE '%{{search_term}}%' OR Email LIKE '%{{search_term}}%' ORDER BY LastModifiedDate DESC LIMIT 10";
        assert_eq!(
            t.render_soql(tpl, &ctx(json!({})), &opt).expect("ok"),
            "SELECT Id FROM Contact ORDER BY LastModifiedDate DESC LIMIT 10"
        );
        let tpl = "SELECT Id FROM Contact WHERE Phone = '{{caller_phone}}' AND MailingCity = '{{city}}' LIMIT 5";
        assert_eq!(
            t.render_soql(tpl, &ctx(json!({"caller_phone": "+1555"})), &opt)
                .expect("ok"),
            "SELECT Id FROM Contact WHERE Phone = '+1555' LIMIT 5"
        );
        let e = t.render_soql(tpl, &ctx(json!({})), &opt).unwrap_err();
        assert_eq!(e.missing, vec!["caller_phone".to_owned()]);
    }

    #[test]
    fn hostile_values_stay_inside_their_literal() {
        let t = Templating::new();
        let opt = HashSet::new();
        for term in [
            "x' OR Name != '",
            "100%",
            "a_b",
            "line\nbreak",
            "back\\slash'",
            "') OR (Id != '",
        ] {
            let c = ctx(json!({"q": term}));
            let soql = t
                .render_soql(
                    "SELECT Id FROM Contact WHERE Name LIKE '%{{q}}%' AND Email = '{{q}}'",
                    &c,
                    &opt,
                )
                .expect("renders");
            let q = callforce_soql::parse_query(&soql).expect("parses");
            let want = callforce_soql::QueryBuilder::new("Contact")
                .select(["Id"])
                .filter(
                    callforce_soql::Cond::like("Name", callforce_soql::LikePattern::contains(term))
                        .and(callforce_soql::Cond::eq("Email", term)),
                )
                .build()
                .expect("builds");
            assert_eq!(q, want, "{term:?}");
        }
    }

    #[test]
    fn body_fields_left_unfilled_disappear_and_types_are_kept() {
        let t = Templating::new();
        let opt: HashSet<String> = ["FirstName".to_owned(), "IsActive".to_owned()].into();
        let body = json!({"FirstName": "{{FirstName}}", "LastName": "{{LastName}}", "IsActive": "{{IsActive}}", "Note": "Called from {{caller_phone}}"});
        let c = ctx(json!({"LastName": "O\"Hara", "IsActive": true, "caller_phone": "+1555"}));
        assert_eq!(
            t.render_body(&body, &c, &opt).expect("ok"),
            Some(json!({"LastName": "O\"Hara", "IsActive": true, "Note": "Called from +1555"}))
        );
    }

    #[test]
    fn earlier_results_resolve_in_arguments() {
        let t = Templating::new();
        let c = ctx(json!({"search_contact": {"Id": "003A"}}));
        let args = ctx(json!({"ContactId": "{{search_contact.Id}}", "Subject": "plain"}));
        let r = t.resolve_args(args, &c).expect("ok");
        assert_eq!(r["ContactId"], "003A");
        let e = t
            .resolve_args(ctx(json!({"WhatId": "{{create_case.Id}}"})), &c)
            .unwrap_err();
        assert!(e.message.contains("run create_case first"), "{}", e.message);
    }

    #[test]
    fn field_names_in_references_ignore_case() {
        let t = Templating::new();
        let c = ctx(json!({"search_contact": {"Id": "003A", "AccountId": "001B"}}));
        for (arg, want) in [
            ("{{search_contact.Id}}", "003A"),
            ("{{search_contact.id}}", "003A"),
            ("{{ search_contact.ID }}", "003A"),
            ("{{Search_Contact.accountid}}", "001B"),
            ("{{search_contact.id | downcase}}", "003a"),
            ("Contact {{search_contact.id}}", "Contact 003A"),
        ] {
            let r = t.resolve_args(ctx(json!({ "a": arg })), &c).expect(arg);
            assert_eq!(r["a"], want, "{arg}");
        }
    }

    #[test]
    fn a_reference_to_nothing_says_why() {
        let t = Templating::new();
        let known = ["search_contact", "create_case", "search_case"];
        let c = ctx(json!({
            "search_contact": {"count": 0, "records": []},
            "search_case": {"count": 0, "records": []},
            "create_case": {"id": "500A", "Id": "500A", "success": true},
            "last": {},
        }));
        let err = |arg: &str| {
            t.resolve_args_of(ctx(json!({ "a": arg })), &c, Some(&known))
                .expect_err(arg)
        };
        // It ran and found no one: ask for something else, not the same search again.
        let e = err("{{search_contact.Id}}");
        assert!(
            e.message.starts_with("search_contact found no one"),
            "{}",
            e.message
        );
        assert!(e.message.contains("name or email"), "{}", e.message);
        assert!(!e.message.contains("first"), "{}", e.message);
        let e = err("{{search_case.Id}}");
        assert!(
            e.message.starts_with("search_case found nothing"),
            "{}",
            e.message
        );
        // An action that does not exist: the closest name.
        let e = err("{{serch_contact.Id}}");
        assert_eq!(e.code, crate::error::ErrorCode::InvalidArgument);
        assert_eq!(e.suggestion.as_deref(), Some("search_contact"));
        assert!(
            e.message.contains("did you mean 'search_contact'"),
            "{}",
            e.message
        );
        // An action that has not run in this call yet.
        let c2 = ctx(json!({}));
        let e = t
            .resolve_args_of(ctx(json!({"a": "{{create_case.Id}}"})), &c2, Some(&known))
            .expect_err("not run");
        assert!(e.message.contains("run create_case first"), "{}", e.message);
        // A field its result does not have: what it has, and the closest.
        let e = err("{{create_case.CaseNumbr}}");
        assert!(e.message.contains("has no CaseNumbr"), "{}", e.message);
        assert!(e.message.contains("it has: "), "{}", e.message);
        let e = err("{{create_case.ide}}");
        assert_eq!(e.suggestion.as_deref(), Some("id"), "{}", e.message);
        // Nothing of that object was seen yet.
        let e = err("{{last.Contact.Id}}");
        assert!(
            e.message.contains("no record of that object"),
            "{}",
            e.message
        );
    }
}
