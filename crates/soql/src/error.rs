//! The crate's one error type: what went wrong ([`ErrorKind`]) and where ([`Position`]).
//!
//! [`ParseError::salesforce_message`] renders the text Salesforce puts in a `MALFORMED_QUERY`
//! body (`ERROR at Row:1:Column:N` plus `unexpected token: 'X'`), and
//! [`ParseError::error_code`] says which Salesforce error code an error maps to.

/// A position in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset from the start of the text.
    pub offset: usize,
    /// 1-based line number.
    pub row: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Position {
    /// Computes the position of byte `offset` in `src` (clamped to the text's length).
    pub fn at(src: &str, offset: usize) -> Self {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let row = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = src[line_start..offset].chars().count() + 1;
        Position {
            offset,
            row,
            column,
        }
    }
}

/// What went wrong while lexing, parsing or building a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token that the grammar does not allow here (`<EOF>` at the end of the text).
    #[error("unexpected token: '{found}'")]
    UnexpectedToken {
        /// The token's text as written.
        found: String,
    },
    /// A character that starts no token.
    #[error("unexpected char: '{found}'")]
    UnexpectedChar {
        /// The character.
        found: char,
    },
    /// A string literal with no closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A backslash followed by a character that is not a valid escape.
    #[error("Invalid string literal: illegal escape sequence '\\{found}'")]
    InvalidEscape {
        /// The character after the backslash.
        found: char,
    },
    /// A `\u` escape not followed by four hex digits naming a valid character.
    #[error("Invalid string literal: invalid unicode escape")]
    InvalidUnicodeEscape,
    /// A number that is malformed or out of range.
    #[error("invalid number: '{text}'")]
    InvalidNumber {
        /// The text as written.
        text: String,
    },
    /// A date or datetime literal that is malformed or names no real day or time.
    #[error("invalid date: '{text}'")]
    InvalidDate {
        /// The text as written.
        text: String,
    },
    /// A date literal of the `LAST_N_DAYS:n` family without its `:n`.
    #[error("date literal {name} requires an integer argument, e.g. {name}:1")]
    MissingDateLiteralArgument {
        /// The literal's name.
        name: String,
    },
    /// Nesting (parentheses, NOT, function calls, subqueries) deeper than the parser allows.
    #[error("query is nested too deeply")]
    TooDeep,
    /// A SOSL query whose search term is not enclosed in braces (or quotes).
    #[error("No search term found. The search term must be enclosed in braces.")]
    MissingSearchTerm,
    /// A SOSL search term with no closing brace or closing quote.
    #[error("unterminated search term")]
    UnterminatedSearchTerm,
    /// A SOSL search term that contains no words.
    #[error("empty search term")]
    EmptySearchTerm,
    /// A name given to the builder that is not a valid SOQL identifier or field path.
    #[error("invalid name: '{name}'")]
    InvalidName {
        /// The name as given.
        name: String,
    },
}

/// An error with its kind and the position where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at Row:{row}:Column:{column}", row = position.row, column = position.column)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where it went wrong.
    pub position: Position,
}

/// A result whose error defaults to [`ParseError`].
pub type Result<T, E = ParseError> = std::result::Result<T, E>;

impl ParseError {
    /// Creates an error of `kind` at byte `offset` of `src`.
    pub fn new(kind: ErrorKind, src: &str, offset: usize) -> Self {
        ParseError {
            kind,
            position: Position::at(src, offset),
        }
    }

    /// The Salesforce error code this error is reported as: `MALFORMED_SEARCH` for a SOSL term
    /// problem, `MALFORMED_QUERY` otherwise.
    pub fn error_code(&self) -> &'static str {
        match self.kind {
            ErrorKind::MissingSearchTerm
            | ErrorKind::UnterminatedSearchTerm
            | ErrorKind::EmptySearchTerm => "MALFORMED_SEARCH",
            _ => "MALFORMED_QUERY",
        }
    }

    /// The message Salesforce sends for this error about `source`: the query's first line, a caret
    /// under the column, `ERROR at Row:R:Column:C` and the kind's text. A missing search term gets
    /// its bare message, as Salesforce sends it.
    pub fn salesforce_message(&self, source: &str) -> String {
        if self.kind == ErrorKind::MissingSearchTerm {
            return self.kind.to_string();
        }
        let line = source
            .lines()
            .nth(self.position.row.saturating_sub(1))
            .unwrap_or("");
        let caret = " ".repeat(self.position.column.saturating_sub(1));
        format!(
            "\n{line}\n{caret}^\nERROR at Row:{}:Column:{}\n{}",
            self.position.row, self.position.column, self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_rows_and_character_columns() {
        let src = "SELECT Id\nFROM Ä x";
        let cases = [
            (0, 1, 1),
            (7, 1, 8),
            (10, 2, 1),
            (15, 2, 6),
            (17, 2, 7),
            (99, 2, 9),
        ];
        for (offset, row, column) in cases {
            let p = Position::at(src, offset);
            assert_eq!((p.row, p.column), (row, column), "offset {offset}");
        }
    }

    #[test]
    fn salesforce_message_has_caret_row_and_column() {
        let src = "SELECT Id FROM Account WHERE";
        let err = ParseError::new(
            ErrorKind::UnexpectedToken {
                found: "<EOF>".into(),
            },
            src,
            src.len(),
        );
        assert_eq!(
            err.salesforce_message(src),
            format!(
                "\n{src}\n{}^\nERROR at Row:1:Column:29\nunexpected token: '<EOF>'",
                " ".repeat(28)
            )
        );
        assert_eq!(err.error_code(), "MALFORMED_QUERY");
    }

    #[test]
    fn missing_search_term_maps_to_malformed_search() {
        let err = ParseError::new(ErrorKind::MissingSearchTerm, "FIND x", 5);
        assert_eq!(err.error_code(), "MALFORMED_SEARCH");
        assert_eq!(
            err.salesforce_message("FIND x"),
            "No search term found. The search term must be enclosed in braces."
        );
    }
}
