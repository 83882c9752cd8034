//! The SOSL search term: the text between the braces of `FIND {...}`.
//!
//! Words are separated by whitespace and joined by `AND` when nothing else is written; `OR`,
//! `AND NOT` and parentheses combine them; `"..."` is a phrase. In a word, `*` matches any run of
//! characters and `?` one character. A backslash makes the next character literal; the reserved
//! characters `? & | ! { } [ ] ( ) ^ ~ * : \ " ' + -` must be escaped to be searched for, though
//! an unescaped one inside a word (`555-1234`) is read as itself. An operator word that holds an
//! escape (`\AND`) is a plain word.

use crate::ast::{SearchExpr, SearchWord, WordPiece};
use crate::error::{ErrorKind, ParseError, Result};
use crate::parser::MAX_DEPTH;

/// The characters that must be escaped with a backslash inside a search term.
pub const RESERVED_CHARS: &[char] = &[
    '?', '&', '|', '!', '{', '}', '[', ']', '(', ')', '^', '~', '*', ':', '\\', '"', '\'', '+', '-',
];

#[derive(Debug, Clone, PartialEq)]
enum TermTok {
    Word(SearchWord),
    Phrase(String),
    And,
    Or,
    Not,
    LParen,
    RParen,
    End,
}

struct TermLexer<'a> {
    src: &'a str,
    toks: Vec<(TermTok, usize, usize)>,
}

fn lex(src: &str) -> Result<Vec<(TermTok, usize, usize)>> {
    let mut lx = TermLexer {
        src,
        toks: Vec::new(),
    };
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' | ')' => {
                chars.next();
                let t = if c == '(' {
                    TermTok::LParen
                } else {
                    TermTok::RParen
                };
                lx.toks.push((t, start, start + 1));
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                let mut closed = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => text.push(e),
                            None => break,
                        },
                        '"' => {
                            closed = Some(i + 1);
                            break;
                        }
                        c => text.push(c),
                    }
                }
                let Some(end) = closed else {
                    return Err(ParseError::new(
                        ErrorKind::UnterminatedSearchTerm,
                        src,
                        start,
                    ));
                };
                lx.toks.push((TermTok::Phrase(text), start, end));
            }
            _ => {
                let mut pieces: Vec<WordPiece> = Vec::new();
                let mut escaped = false;
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    chars.next();
                    end = i + c.len_utf8();
                    let piece_char = match c {
                        '*' => {
                            pieces.push(WordPiece::Any);
                            continue;
                        }
                        '?' => {
                            pieces.push(WordPiece::One);
                            continue;
                        }
                        '\\' => {
                            escaped = true;
                            match chars.next() {
                                Some((j, e)) => {
                                    end = j + e.len_utf8();
                                    e
                                }
                                None => '\\',
                            }
                        }
                        c => c,
                    };
                    match pieces.last_mut() {
                        Some(WordPiece::Text(t)) => t.push(piece_char),
                        _ => pieces.push(WordPiece::Text(piece_char.to_string())),
                    }
                }
                let word = SearchWord { pieces };
                let op = if escaped {
                    None
                } else {
                    match word.text() {
                        Some(t) if t.eq_ignore_ascii_case("AND") => Some(TermTok::And),
                        Some(t) if t.eq_ignore_ascii_case("OR") => Some(TermTok::Or),
                        Some(t) if t.eq_ignore_ascii_case("NOT") => Some(TermTok::Not),
                        _ => None,
                    }
                };
                lx.toks
                    .push((op.unwrap_or(TermTok::Word(word)), start, end));
            }
        }
    }
    let n = lx.src.len();
    lx.toks.push((TermTok::End, n, n));
    Ok(lx.toks)
}

/// Parses a search term (the text inside the braces).
///
/// # Errors
/// [`ErrorKind::EmptySearchTerm`] when there is no word, [`ErrorKind::UnterminatedSearchTerm`]
/// for an open phrase, [`ErrorKind::UnexpectedToken`] for a misplaced operator or parenthesis,
/// [`ErrorKind::TooDeep`] for nesting past the parser's limit. Offsets are within `src`.
pub fn parse_term(src: &str) -> Result<SearchExpr> {
    let toks = lex(src)?;
    if toks.len() == 1 {
        return Err(ParseError::new(ErrorKind::EmptySearchTerm, src, 0));
    }
    let mut p = TermParser {
        src,
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.peek() != &TermTok::End {
        return Err(p.error());
    }
    Ok(e)
}

struct TermParser<'a> {
    src: &'a str,
    toks: Vec<(TermTok, usize, usize)>,
    pos: usize,
    depth: usize,
}

impl TermParser<'_> {
    fn peek(&self) -> &TermTok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn peek2(&self) -> &TermTok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].0
    }

    fn error(&self) -> ParseError {
        let (tok, start, end) = &self.toks[self.pos.min(self.toks.len() - 1)];
        let found = if *tok == TermTok::End {
            "<EOF>".to_owned()
        } else {
            self.src[*start..*end].to_owned()
        };
        ParseError::new(ErrorKind::UnexpectedToken { found }, self.src, *start)
    }

    fn or(&mut self) -> Result<SearchExpr> {
        let mut items = vec![self.and()?];
        while *self.peek() == TermTok::Or {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            SearchExpr::Or(items)
        })
    }

    fn and(&mut self) -> Result<SearchExpr> {
        let mut items = vec![self.and_not()?];
        loop {
            match self.peek() {
                TermTok::And if *self.peek2() != TermTok::Not => {
                    self.pos += 1;
                    items.push(self.and_not()?);
                }
                TermTok::Word(_) | TermTok::Phrase(_) | TermTok::LParen => {
                    items.push(self.and_not()?);
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            SearchExpr::And(items)
        })
    }

    fn and_not(&mut self) -> Result<SearchExpr> {
        let mut left = self.primary()?;
        while *self.peek() == TermTok::And && *self.peek2() == TermTok::Not {
            self.pos += 2;
            let right = self.primary()?;
            left = SearchExpr::AndNot(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<SearchExpr> {
        match self.peek().clone() {
            TermTok::Word(w) => {
                self.pos += 1;
                Ok(SearchExpr::Word(w))
            }
            TermTok::Phrase(p) => {
                self.pos += 1;
                Ok(SearchExpr::Phrase(p))
            }
            TermTok::LParen => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    let at = self.toks[self.pos].1;
                    return Err(ParseError::new(ErrorKind::TooDeep, self.src, at));
                }
                self.pos += 1;
                let e = self.or()?;
                if *self.peek() != TermTok::RParen {
                    return Err(self.error());
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            _ => Err(self.error()),
        }
    }
}

/// Escapes `text` for a search term: reserved characters and whitespace get a backslash.
pub fn escape_search_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if RESERVED_CHARS.contains(&c) || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> SearchExpr {
        SearchExpr::Word(SearchWord::literal(s))
    }

    #[test]
    fn term_grammar_table() {
        let star = |pieces: Vec<WordPiece>| SearchExpr::Word(SearchWord { pieces });
        let t = |s: &str| WordPiece::Text(s.into());
        let cases: Vec<(&str, SearchExpr)> = vec![
            ("Acme", w("Acme")),
            ("  Acme  ", w("Acme")),
            ("John Smith", SearchExpr::And(vec![w("John"), w("Smith")])),
            (
                "John AND Smith",
                SearchExpr::And(vec![w("John"), w("Smith")]),
            ),
            ("John OR Smith", SearchExpr::Or(vec![w("John"), w("Smith")])),
            (
                "a b OR c",
                SearchExpr::Or(vec![SearchExpr::And(vec![w("a"), w("b")]), w("c")]),
            ),
            (
                "a AND NOT b",
                SearchExpr::AndNot(Box::new(w("a")), Box::new(w("b"))),
            ),
            (
                "a AND b AND NOT c",
                SearchExpr::And(vec![
                    w("a"),
                    SearchExpr::AndNot(Box::new(w("b")), Box::new(w("c"))),
                ]),
            ),
            (
                "(a OR b) c",
                SearchExpr::And(vec![SearchExpr::Or(vec![w("a"), w("b")]), c_word()]),
            ),
            ("\"John Smith\"", SearchExpr::Phrase("John Smith".into())),
            (r#""say \"hi\"""#, SearchExpr::Phrase("say \"hi\"".into())),
            ("Jo*", star(vec![t("Jo"), WordPiece::Any])),
            ("J?hn", star(vec![t("J"), WordPiece::One, t("hn")])),
            (r"Jo\*", w("Jo*")),
            (r"\+15551234567", w("+15551234567")),
            ("555-1234", w("555-1234")),
            (r"a\ b", w("a b")),
            (r"\AND", w("AND")),
            (r"john@acme.com", w("john@acme.com")),
            (r"\}\{", w("}{")),
        ];
        fn c_word() -> SearchExpr {
            SearchExpr::Word(SearchWord::literal("c"))
        }
        for (src, want) in cases {
            assert_eq!(parse_term(src).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn term_errors_table() {
        let cases: &[(&str, ErrorKind)] = &[
            ("", ErrorKind::EmptySearchTerm),
            ("   ", ErrorKind::EmptySearchTerm),
            ("\"open", ErrorKind::UnterminatedSearchTerm),
            ("OR a", ErrorKind::UnexpectedToken { found: "OR".into() }),
            (
                "a OR",
                ErrorKind::UnexpectedToken {
                    found: "<EOF>".into(),
                },
            ),
            (
                "(a",
                ErrorKind::UnexpectedToken {
                    found: "<EOF>".into(),
                },
            ),
            ("a)", ErrorKind::UnexpectedToken { found: ")".into() }),
            (
                "NOT a",
                ErrorKind::UnexpectedToken {
                    found: "NOT".into(),
                },
            ),
        ];
        for (src, want) in cases {
            assert_eq!(&parse_term(src).unwrap_err().kind, want, "{src:?}");
        }
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(parse_term(&deep).unwrap_err().kind, ErrorKind::TooDeep);
    }

    #[test]
    fn wildcard_words_match_tokens() {
        let cases = [
            ("Jo*", "johnson", true),
            ("Jo*", "ajo", false),
            ("J?hn", "John", true),
            ("J?hn", "Jhn", false),
            (r"a\*", "a*", true),
            (r"a\*", "ab", false),
        ];
        for (term, token, want) in cases {
            let SearchExpr::Word(word) = parse_term(term).unwrap() else {
                panic!("{term} is not a word");
            };
            assert_eq!(word.matches(token), want, "{term} ~ {token}");
        }
    }
}
