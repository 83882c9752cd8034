//! The recursive-descent parser: tokens to [`Query`] and [`Search`].
//!
//! Keywords are matched case-insensitively; names keep their spelling. Nesting (parentheses,
//! `NOT`, function calls, subqueries, search-term groups) is limited to [`MAX_DEPTH`] levels, so
//! no input can exhaust the stack: the parser returns an error, it never panics.
//!
//! As in Salesforce, `AND` and `OR` cannot be mixed at one level without parentheses
//! (`a AND b OR c` is `unexpected token: 'OR'`).

use crate::ast::*;
use crate::error::{ErrorKind, ParseError, Result};
use crate::lexer::{Tok, Token, decode_string, lex_string, tokenize};
use crate::sosl;

/// The deepest nesting the parser accepts.
pub const MAX_DEPTH: usize = 64;

/// Parses one SOQL `SELECT` query.
///
/// # Errors
/// A [`ParseError`] with the kind and position of the first problem.
pub fn parse_query(src: &str) -> Result<Query> {
    let toks = tokenize(src, 0)?;
    let mut p = Parser::new(src, toks);
    let q = p.query()?;
    p.expect_eof()?;
    Ok(q)
}

/// Parses a SOQL `WHERE` condition on its own (`Name = 'x' AND Amount > 5`).
///
/// # Errors
/// A [`ParseError`] with the kind and position of the first problem.
pub fn parse_condition(src: &str) -> Result<Condition> {
    let toks = tokenize(src, 0)?;
    let mut p = Parser::new(src, toks);
    let c = p.condition()?;
    p.expect_eof()?;
    Ok(c)
}

/// Parses one SOSL query: `FIND {term} ...` (or `FIND 'term' ...`).
///
/// # Errors
/// A [`ParseError`]; a term not enclosed in braces or quotes is [`ErrorKind::MissingSearchTerm`].
pub fn parse_search(src: &str) -> Result<Search> {
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let find_ok = src
        .get(i..i + 4)
        .is_some_and(|w| w.eq_ignore_ascii_case("FIND"))
        && !bytes
            .get(i + 4)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if !find_ok {
        // Report the first word (or character), as Salesforce does for text that is no search.
        let rest = &src[i..];
        let word_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let found = match word_len {
            0 => rest
                .chars()
                .next()
                .map_or_else(|| "<EOF>".to_owned(), String::from),
            n => rest[..n].to_owned(),
        };
        return Err(ParseError::new(
            ErrorKind::UnexpectedToken { found },
            src,
            i,
        ));
    }
    i += 4;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let (term, rest) = match bytes.get(i) {
        Some(b'{') => {
            let body_start = i + 1;
            let mut j = body_start;
            let mut close = None;
            while j < bytes.len() {
                match bytes[j] {
                    b'\\' => j += 2,
                    b'}' => {
                        close = Some(j);
                        break;
                    }
                    _ => j += 1,
                }
            }
            let Some(close) = close else {
                return Err(ParseError::new(ErrorKind::UnterminatedSearchTerm, src, i));
            };
            let term =
                sosl::parse_term(&src[body_start..close]).map_err(|e| shift(src, e, body_start))?;
            (term, close + 1)
        }
        Some(b'\'') => {
            let (raw, end) = lex_string(src, i).map_err(|e| match e.kind {
                ErrorKind::UnterminatedString => {
                    ParseError::new(ErrorKind::UnterminatedSearchTerm, src, i)
                }
                _ => e,
            })?;
            // Positions inside a quoted term refer to the decoded text: report the quote.
            let term = sosl::parse_term(&decode_string(&raw))
                .map_err(|e| ParseError::new(e.kind, src, i))?;
            (term, end)
        }
        _ => return Err(ParseError::new(ErrorKind::MissingSearchTerm, src, i)),
    };
    let toks = tokenize(src, rest)?;
    let mut p = Parser::new(src, toks);
    let s = p.search_tail(term)?;
    p.expect_eof()?;
    Ok(s)
}

/// Moves an error found in `src[base..]` to its position in `src`.
fn shift(src: &str, e: ParseError, base: usize) -> ParseError {
    ParseError::new(e.kind, src, base + e.position.offset)
}

fn unexpected(src: &str, t: &Token) -> ParseError {
    let found = if t.tok == Tok::Eof {
        "<EOF>".to_owned()
    } else {
        src[t.start..t.end].to_owned()
    };
    ParseError::new(ErrorKind::UnexpectedToken { found }, src, t.start)
}

/// Words that end a select item, object name or expression, so never read as an alias.
const RESERVED: &[&str] = &[
    "AND",
    "ASC",
    "DESC",
    "EXCLUDES",
    "FIRST",
    "FOR",
    "FROM",
    "GROUP",
    "HAVING",
    "IN",
    "INCLUDES",
    "LAST",
    "LIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "OR",
    "ORDER",
    "SELECT",
    "UPDATE",
    "USING",
    "WHERE",
    "WITH",
    "TYPEOF",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "RETURNING",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, toks: Vec<Token>) -> Self {
        Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> &Token {
        // NB: the token list always ends with Eof and `bump` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_tok(&self) -> &Tok {
        &self.peek().tok
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn error(&self) -> ParseError {
        unexpected(self.src, self.peek())
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek_tok(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek_tok() == tok {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn expect_eof(&self) -> Result<()> {
        if *self.peek_tok() == Tok::Eof {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(ParseError::new(
                ErrorKind::TooDeep,
                self.src,
                self.peek().start,
            ))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Any identifier (keyword or not).
    fn ident(&mut self) -> Result<String> {
        match self.peek_tok() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error()),
        }
    }

    /// An identifier that is not a reserved word.
    fn name(&mut self) -> Result<String> {
        match self.peek_tok() {
            Tok::Ident(s) if !is_reserved(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error()),
        }
    }

    /// An optional alias: a following non-reserved identifier.
    fn alias(&mut self) -> Option<String> {
        match self.peek_tok() {
            Tok::Ident(s) if !is_reserved(s) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        }
    }

    fn unsigned(&mut self) -> Result<u64> {
        match self.peek_tok() {
            Tok::Number(n) if n.is_integer() => match n.as_str().parse::<u64>() {
                Ok(v) => {
                    self.pos += 1;
                    Ok(v)
                }
                Err(_) => Err(self.error()),
            },
            _ => Err(self.error()),
        }
    }

    // ---- SOQL ----

    fn query(&mut self) -> Result<Query> {
        self.enter()?;
        let q = self.query_inner();
        self.leave();
        q
    }

    fn query_inner(&mut self) -> Result<Query> {
        self.expect_kw("SELECT")?;
        let mut select = vec![self.select_item()?];
        while self.eat(&Tok::Comma) {
            select.push(self.select_item()?);
        }
        self.expect_kw("FROM")?;
        // NB: object names may be reserved words (`Group`, `Order` are real objects).
        let object = self.ident()?;
        let alias = self.alias();
        let mut q = Query::new(select, object);
        q.from.alias = alias;
        if self.is_kw("USING") {
            self.pos += 1;
            self.expect_kw("SCOPE")?;
            q.using_scope = Some(self.name()?);
        }
        if self.eat_kw("WHERE") {
            q.filter = Some(self.condition()?);
        }
        if self.eat_kw("WITH") {
            q.with = Some(self.with_clause()?);
        }
        if self.is_kw("GROUP") {
            self.pos += 1;
            self.expect_kw("BY")?;
            q.group_by = Some(self.group_by()?);
            if self.eat_kw("HAVING") {
                q.having = Some(self.condition()?);
            }
        }
        if self.is_kw("ORDER") {
            self.pos += 1;
            self.expect_kw("BY")?;
            q.order_by = self.order_items()?;
        }
        if self.eat_kw("LIMIT") {
            q.limit = Some(self.unsigned()?);
        }
        if self.eat_kw("OFFSET") {
            q.offset = Some(self.unsigned()?);
        }
        if self.eat_kw("FOR") {
            q.for_clause = Some(if self.eat_kw("VIEW") {
                ForClause::View
            } else if self.eat_kw("REFERENCE") {
                ForClause::Reference
            } else if self.eat_kw("UPDATE") {
                ForClause::Update
            } else {
                return Err(self.error());
            });
        }
        if self.eat_kw("UPDATE") {
            q.update = Some(self.update_clause()?);
        }
        Ok(q)
    }

    fn update_clause(&mut self) -> Result<UpdateClause> {
        if self.eat_kw("TRACKING") {
            Ok(UpdateClause::Tracking)
        } else if self.eat_kw("VIEWSTAT") {
            Ok(UpdateClause::Viewstat)
        } else {
            Err(self.error())
        }
    }

    fn select_item(&mut self) -> Result<SelectItem> {
        if *self.peek_tok() == Tok::LParen {
            self.pos += 1;
            let q = self.query()?;
            self.expect(&Tok::RParen)?;
            return Ok(SelectItem::Subquery(Box::new(q)));
        }
        if self.is_kw("TYPEOF") && matches!(self.peek2(), Tok::Ident(_)) {
            self.pos += 1;
            return Ok(SelectItem::TypeOf(self.type_of()?));
        }
        if self.is_kw("FIELDS") && *self.peek2() == Tok::LParen {
            let kind = match self.toks.get(self.pos + 2).map(|t| &t.tok) {
                Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("ALL") => Some(FieldsKind::All),
                Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("STANDARD") => {
                    Some(FieldsKind::Standard)
                }
                Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("CUSTOM") => Some(FieldsKind::Custom),
                _ => None,
            };
            if let Some(kind) = kind {
                self.pos += 3;
                self.expect(&Tok::RParen)?;
                return Ok(SelectItem::Fields(kind));
            }
        }
        let expr = self.expr()?;
        let alias = self.alias();
        Ok(SelectItem::Expr { expr, alias })
    }

    fn type_of(&mut self) -> Result<TypeOf> {
        let relationship = self.name()?;
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let object = self.name()?;
            self.expect_kw("THEN")?;
            whens.push(TypeOfWhen {
                object,
                fields: self.path_list()?,
            });
        }
        if whens.is_empty() {
            return Err(self.error());
        }
        let otherwise = if self.eat_kw("ELSE") {
            self.path_list()?
        } else {
            Vec::new()
        };
        self.expect_kw("END")?;
        Ok(TypeOf {
            relationship,
            whens,
            otherwise,
        })
    }

    fn path_list(&mut self) -> Result<Vec<FieldPath>> {
        let mut out = vec![self.field_path()?];
        while self.eat(&Tok::Comma) {
            out.push(self.field_path()?);
        }
        Ok(out)
    }

    fn field_path(&mut self) -> Result<FieldPath> {
        let mut segments = vec![self.name()?];
        while self.eat(&Tok::Dot) {
            segments.push(self.ident()?);
        }
        Ok(FieldPath { segments })
    }

    /// A field path or function call.
    fn expr(&mut self) -> Result<Expr> {
        if matches!(self.peek_tok(), Tok::Ident(_)) && *self.peek2() == Tok::LParen {
            let name = self.ident()?;
            self.pos += 1; // (
            self.enter()?;
            let args = self.call_args();
            self.leave();
            let args = args?;
            self.expect(&Tok::RParen)?;
            return Ok(Expr::Call(FunctionCall { name, args }));
        }
        Ok(Expr::Field(self.field_path()?))
    }

    fn call_args(&mut self) -> Result<Vec<FunctionArg>> {
        let mut args = Vec::new();
        if *self.peek_tok() == Tok::RParen {
            return Ok(args);
        }
        loop {
            let arg = match self.peek_tok() {
                Tok::Ident(s)
                    if !(s.eq_ignore_ascii_case("NULL")
                        || s.eq_ignore_ascii_case("TRUE")
                        || s.eq_ignore_ascii_case("FALSE")) =>
                {
                    FunctionArg::Expr(self.expr()?)
                }
                _ => FunctionArg::Value(self.value()?),
            };
            args.push(arg);
            if !self.eat(&Tok::Comma) {
                return Ok(args);
            }
        }
    }

    fn with_clause(&mut self) -> Result<WithClause> {
        if self.eat_kw("SECURITY_ENFORCED") {
            Ok(WithClause::SecurityEnforced)
        } else if self.eat_kw("USER_MODE") {
            Ok(WithClause::UserMode)
        } else if self.eat_kw("SYSTEM_MODE") {
            Ok(WithClause::SystemMode)
        } else if self.eat_kw("DATA") {
            self.expect_kw("CATEGORY")?;
            Ok(WithClause::DataCategory(self.category_filters()?))
        } else {
            Err(self.error())
        }
    }

    fn category_filters(&mut self) -> Result<Vec<DataCategoryFilter>> {
        let mut out = Vec::new();
        loop {
            let group = self.name()?;
            let selector = if self.eat_kw("AT") {
                CategorySelector::At
            } else if self.eat_kw("ABOVE_OR_BELOW") {
                CategorySelector::AboveOrBelow
            } else if self.eat_kw("ABOVE") {
                CategorySelector::Above
            } else if self.eat_kw("BELOW") {
                CategorySelector::Below
            } else {
                return Err(self.error());
            };
            let categories = if self.eat(&Tok::LParen) {
                let mut c = vec![self.name()?];
                while self.eat(&Tok::Comma) {
                    c.push(self.name()?);
                }
                self.expect(&Tok::RParen)?;
                c
            } else {
                vec![self.name()?]
            };
            out.push(DataCategoryFilter {
                group,
                selector,
                categories,
            });
            if !self.eat_kw("AND") {
                return Ok(out);
            }
        }
    }

    fn group_by(&mut self) -> Result<GroupBy> {
        let kind = if *self.peek2() == Tok::LParen && self.is_kw("ROLLUP") {
            GroupKind::Rollup
        } else if *self.peek2() == Tok::LParen && self.is_kw("CUBE") {
            GroupKind::Cube
        } else {
            GroupKind::Plain
        };
        if kind != GroupKind::Plain {
            self.pos += 2;
        }
        let mut items = vec![self.expr()?];
        while self.eat(&Tok::Comma) {
            items.push(self.expr()?);
        }
        if kind != GroupKind::Plain {
            self.expect(&Tok::RParen)?;
        }
        Ok(GroupBy { kind, items })
    }

    fn order_items(&mut self) -> Result<Vec<OrderItem>> {
        let mut out = Vec::new();
        loop {
            let expr = self.expr()?;
            let direction = if self.eat_kw("ASC") {
                Some(Direction::Asc)
            } else if self.eat_kw("DESC") {
                Some(Direction::Desc)
            } else {
                None
            };
            let nulls = if self.eat_kw("NULLS") {
                if self.eat_kw("FIRST") {
                    Some(Nulls::First)
                } else if self.eat_kw("LAST") {
                    Some(Nulls::Last)
                } else {
                    return Err(self.error());
                }
            } else {
                None
            };
            out.push(OrderItem {
                expr,
                direction,
                nulls,
            });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// A condition: unary terms joined by all-AND or all-OR.
    fn condition(&mut self) -> Result<Condition> {
        let first = self.unary()?;
        let op = if self.is_kw("AND") {
            "AND"
        } else if self.is_kw("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut items = vec![first];
        while self.eat_kw(op) {
            items.push(self.unary()?);
        }
        if self.is_kw("AND") || self.is_kw("OR") {
            return Err(self.error());
        }
        Ok(if op == "AND" {
            Condition::And(items)
        } else {
            Condition::Or(items)
        })
    }

    fn unary(&mut self) -> Result<Condition> {
        self.enter()?;
        let c = self.unary_inner();
        self.leave();
        c
    }

    fn unary_inner(&mut self) -> Result<Condition> {
        if self.eat_kw("NOT") {
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Tok::LParen) {
            let c = self.condition()?;
            self.expect(&Tok::RParen)?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Condition> {
        let lhs = self.expr()?;
        let op = match self.peek_tok() {
            Tok::Eq => Some(CompareOp::Eq),
            Tok::Ne => Some(CompareOp::Ne),
            Tok::Lt => Some(CompareOp::Lt),
            Tok::Le => Some(CompareOp::Le),
            Tok::Gt => Some(CompareOp::Gt),
            Tok::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let value = self.value()?;
            return Ok(Condition::Compare { lhs, op, value });
        }
        if self.eat_kw("LIKE") {
            let t = self.bump();
            let pattern = match t.tok {
                Tok::Str(raw) => LikeValue::Pattern(LikePattern::from_escaped(&raw)),
                Tok::Colon => LikeValue::Bind(self.bind_name()?),
                _ => {
                    self.pos -= 1;
                    return Err(self.error());
                }
            };
            return Ok(Condition::Like { lhs, pattern });
        }
        let negated = self.is_kw("NOT")
            && matches!(self.peek2(), Tok::Ident(s) if s.eq_ignore_ascii_case("IN"));
        if negated {
            self.pos += 1;
        }
        if self.eat_kw("IN") {
            if *self.peek_tok() == Tok::Colon {
                self.pos += 1;
                let name = self.bind_name()?;
                return Ok(Condition::InList {
                    lhs,
                    negated,
                    values: vec![Value::Bind(name)],
                });
            }
            self.expect(&Tok::LParen)?;
            if self.is_kw("SELECT") {
                let query = self.query()?;
                self.expect(&Tok::RParen)?;
                return Ok(Condition::InQuery {
                    lhs,
                    negated,
                    query: Box::new(query),
                });
            }
            let values = self.value_list_tail()?;
            return Ok(Condition::InList {
                lhs,
                negated,
                values,
            });
        }
        if negated {
            return Err(self.error());
        }
        let excludes = if self.eat_kw("INCLUDES") {
            false
        } else if self.eat_kw("EXCLUDES") {
            true
        } else {
            return Err(self.error());
        };
        self.expect(&Tok::LParen)?;
        let values = self.value_list_tail()?;
        Ok(Condition::Includes {
            lhs,
            excludes,
            values,
        })
    }

    /// `v, v, ... )` after an opening parenthesis.
    fn value_list_tail(&mut self) -> Result<Vec<Value>> {
        let mut values = vec![self.value()?];
        while self.eat(&Tok::Comma) {
            values.push(self.value()?);
        }
        self.expect(&Tok::RParen)?;
        Ok(values)
    }

    fn bind_name(&mut self) -> Result<String> {
        let mut name = self.ident()?;
        while *self.peek_tok() == Tok::Dot {
            self.pos += 1;
            name.push('.');
            name.push_str(&self.ident()?);
        }
        Ok(name)
    }

    fn value(&mut self) -> Result<Value> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::Str(raw) => Value::String(decode_string(&raw)),
            Tok::Number(n) => Value::Number(n),
            Tok::Currency(code, amount) => Value::Currency { code, amount },
            Tok::Date(d) => Value::Date(d),
            Tok::DateTime(d) => Value::DateTime(d),
            Tok::Colon => Value::Bind(self.bind_name()?),
            Tok::Ident(s) => {
                if s.eq_ignore_ascii_case("NULL") {
                    Value::Null
                } else if s.eq_ignore_ascii_case("TRUE") {
                    Value::Boolean(true)
                } else if s.eq_ignore_ascii_case("FALSE") {
                    Value::Boolean(false)
                } else if let Some(d) = crate::date::fixed_literal(&s) {
                    Value::DateLiteral(d)
                } else if let Some(make) = crate::date::n_literal(&s) {
                    if *self.peek_tok() != Tok::Colon {
                        return Err(ParseError::new(
                            ErrorKind::MissingDateLiteralArgument { name: s },
                            self.src,
                            t.start,
                        ));
                    }
                    self.pos += 1;
                    let n = self.unsigned()?;
                    let n = u32::try_from(n).map_err(|_| {
                        self.pos -= 1;
                        self.error()
                    })?;
                    Value::DateLiteral(make(n))
                } else {
                    self.pos -= 1;
                    return Err(self.error());
                }
            }
            _ => {
                if t.tok != Tok::Eof {
                    self.pos -= 1;
                }
                return Err(self.error());
            }
        })
    }

    // ---- SOSL ----

    fn search_tail(&mut self, term: SearchExpr) -> Result<Search> {
        let mut s = Search {
            term,
            in_fields: None,
            returning: Vec::new(),
            with: Vec::new(),
            limit: None,
            update: None,
        };
        if self.eat_kw("IN") {
            let group = if self.eat_kw("ALL") {
                SearchGroup::All
            } else if self.eat_kw("NAME") {
                SearchGroup::Name
            } else if self.eat_kw("EMAIL") {
                SearchGroup::Email
            } else if self.eat_kw("PHONE") {
                SearchGroup::Phone
            } else if self.eat_kw("SIDEBAR") {
                SearchGroup::Sidebar
            } else {
                return Err(self.error());
            };
            self.expect_kw("FIELDS")?;
            s.in_fields = Some(group);
        }
        if self.eat_kw("RETURNING") {
            s.returning.push(self.returning()?);
            while self.eat(&Tok::Comma) {
                s.returning.push(self.returning()?);
            }
        }
        while self.eat_kw("WITH") {
            s.with.push(self.search_with()?);
        }
        if self.eat_kw("LIMIT") {
            s.limit = Some(self.unsigned()?);
        }
        if self.eat_kw("UPDATE") {
            s.update = Some(self.update_clause()?);
        }
        Ok(s)
    }

    fn returning(&mut self) -> Result<Returning> {
        let mut r = Returning::new(self.ident()?, Vec::new());
        if !self.eat(&Tok::LParen) {
            return Ok(r);
        }
        r.fields.push(self.select_item()?);
        while self.eat(&Tok::Comma) {
            r.fields.push(self.select_item()?);
        }
        if self.eat_kw("WHERE") {
            r.filter = Some(self.condition()?);
        }
        if self.is_kw("ORDER") {
            self.pos += 1;
            self.expect_kw("BY")?;
            r.order_by = self.order_items()?;
        }
        if self.eat_kw("LIMIT") {
            r.limit = Some(self.unsigned()?);
        }
        if self.eat_kw("OFFSET") {
            r.offset = Some(self.unsigned()?);
        }
        self.expect(&Tok::RParen)?;
        Ok(r)
    }

    fn search_with(&mut self) -> Result<SearchWith> {
        if self.is_kw("DATA")
            && matches!(self.peek2(), Tok::Ident(s) if s.eq_ignore_ascii_case("CATEGORY"))
        {
            self.pos += 2;
            return Ok(SearchWith {
                name: "DATA CATEGORY".to_owned(),
                arg: SearchWithArg::DataCategory(self.category_filters()?),
            });
        }
        let name = self.name()?;
        let arg = if self.eat(&Tok::Eq) {
            SearchWithArg::Eq(self.value()?)
        } else if self.eat_kw("IN") {
            self.expect(&Tok::LParen)?;
            SearchWithArg::In(self.value_list_tail()?)
        } else if self.eat(&Tok::LParen) {
            let mut params = Vec::new();
            loop {
                let key = self.name()?;
                self.expect(&Tok::Eq)?;
                params.push((key, self.value()?));
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
            self.expect(&Tok::RParen)?;
            SearchWithArg::Params(params)
        } else {
            SearchWithArg::None
        };
        Ok(SearchWith { name, arg })
    }
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// True when `name` lexes as one identifier token (not a currency literal).
pub(crate) fn is_valid_ident(name: &str) -> bool {
    let b = name.as_bytes();
    let currency = b.len() > 3
        && b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3..].iter().all(u8::is_ascii_digit);
    b.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !currency
}

/// True when `name` can start a field path: an identifier that is not a reserved word, a date
/// literal or `null`/`true`/`false`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    is_valid_ident(name)
        && !is_reserved(name)
        && !crate::date::is_literal_name(name)
        && !["NULL", "TRUE", "FALSE"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(name))
}
