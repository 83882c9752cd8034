//! SOQL and SOSL for callforce: lexer, parser to an AST, printer, date-literal and LIKE
//! semantics, and a builder that escapes every literal. Pure: no I/O.
//!
//! Entry points:
//! - [`parse_query`] turns SOQL text into a [`Query`]; [`parse_search`] turns SOSL into a
//!   [`Search`]; [`parse_condition`] parses a bare `WHERE` condition.
//! - Every AST node prints back to canonical text with `Display` (`query.to_string()`), and
//!   `parse(print(ast)) == ast`.
//! - [`QueryBuilder`], [`Cond`] and [`SearchBuilder`] build queries on the client side from typed
//!   values; the printer escapes them, so no value can change a query's shape.
//! - [`DateLiteral::range`] says which days `TODAY`, `LAST_N_DAYS:n`... cover; [`like_match`]
//!   matches a LIKE pattern; [`SearchWord::matches`] matches a SOSL word with wildcards.
//!
//! Modules:
//! - [`ast`]: the syntax trees (every node documented; literal kinds kept distinct).
//! - `lexer` (private): tokens; keywords are identifiers compared
//!   case-insensitively, so names keep their spelling.
//! - [`parser`]: recursive descent with a nesting limit ([`parser::MAX_DEPTH`]); never panics.
//! - [`sosl`]: the SOSL search-term grammar (words, phrases, wildcards, `AND`/`OR`/`AND NOT`).
//! - [`print`](mod@print): the printer.
//! - [`date`]: date-literal ranges (UTC, fiscal year = calendar year, weeks start on Sunday).
//! - [`like`]: LIKE matching and case-insensitive comparison.
//! - [`builder`]: the escaping builders.
//! - [`error`]: [`ParseError`] = an [`ErrorKind`] plus a [`Position`] (byte offset, 1-based row
//!   and column); [`ParseError::salesforce_message`] renders Salesforce's `ERROR at Row:R:Column:C`
//!   text.
//!
//! The one decision to know: a `LIKE` right-hand side is a [`LikePattern`] kept in escaped form
//! (`\%` and `\_` are literal, `%` and `_` are wildcards), while every other string literal is a
//! decoded [`Value::String`].
//!
//! ```
//! use callforce_soql::{parse_query, Condition, Expr, SelectItem, Value};
//!
//! let q = parse_query(
//!     "SELECT Id, Account.Name FROM Contact WHERE Phone = '+15551234567' LIMIT 1",
//! )
//! .unwrap();
//! assert_eq!(q.from.object, "Contact");
//! assert_eq!(q.select[1], SelectItem::field(["Account", "Name"]));
//! let Some(Condition::Compare { lhs: Expr::Field(f), value, .. }) = &q.filter else {
//!     panic!("expected a comparison");
//! };
//! assert_eq!(f.segments, ["Phone"]);
//! assert_eq!(*value, Value::String("+15551234567".into()));
//! assert_eq!(q.limit, Some(1));
//! assert_eq!(
//!     q.to_string(),
//!     "SELECT Id, Account.Name FROM Contact WHERE Phone = '+15551234567' LIMIT 1"
//! );
//!
//! let err = parse_query("SELECT Id FROM Contact WHERE").unwrap_err();
//! assert_eq!(err.to_string(), "unexpected token: '<EOF>' at Row:1:Column:29");
//! assert_eq!(err.error_code(), "MALFORMED_QUERY");
//! ```

pub mod ast;
pub mod builder;
pub mod date;
pub mod error;
mod lexer;
pub mod like;
pub mod parser;
pub mod print;
pub mod sosl;

pub use ast::*;
pub use builder::{Cond, QueryBuilder, ReturningBuilder, SearchBuilder};
pub use date::DateRange;
pub use error::{ErrorKind, ParseError, Position, Result};
pub use like::{cmp_ignore_case, eq_ignore_case, like_match};
pub use parser::{parse_condition, parse_query, parse_search};
pub use print::quote_string;
