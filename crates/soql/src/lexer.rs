//! The SOQL lexer: text to tokens with byte spans.
//!
//! Keywords are not special here: they are [`Tok::Ident`]s that the parser compares
//! case-insensitively, so a name keeps its spelling. String literals come out in *escaped form*:
//! quote escapes (`\'`, `\n`, `\u00e9`...) are decoded, while `\\`, `\%` and `\_` keep their
//! backslash so that a LIKE pattern can still tell a literal `%` from a wildcard
//! ([`decode_string`] finishes the job for non-LIKE use).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};

use crate::ast::Number;
use crate::error::{ErrorKind, ParseError, Result};

/// A token kind with its payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name or keyword.
    Ident(String),
    /// A string literal in escaped form.
    Str(String),
    /// A number.
    Number(Number),
    /// A currency literal (`USD5000`).
    Currency(String, Number),
    /// A date literal `2024-01-31`.
    Date(NaiveDate),
    /// A datetime literal.
    DateTime(DateTime<FixedOffset>),
    Comma,
    Dot,
    LParen,
    RParen,
    Colon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

/// A token and its byte span in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Splits `src[start..]` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str, start: usize) -> Result<Vec<Token>> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: start,
    };
    let mut out = Vec::with_capacity(src.len() / 4 + 2);
    loop {
        let t = lx.next()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn err(&self, kind: ErrorKind, at: usize) -> ParseError {
        ParseError::new(kind, self.src, at)
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    fn next(&mut self) -> Result<Token> {
        while let Some(b) = self.peek_at(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(b) = self.peek_at(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let single = |tok, len| (tok, len);
        let (tok, len) = match b {
            b',' => single(Tok::Comma, 1),
            b'.' => single(Tok::Dot, 1),
            b'(' => single(Tok::LParen, 1),
            b')' => single(Tok::RParen, 1),
            b':' => single(Tok::Colon, 1),
            b'=' => single(Tok::Eq, 1),
            b'!' if self.peek_at(start + 1) == Some(b'=') => single(Tok::Ne, 2),
            b'<' if self.peek_at(start + 1) == Some(b'=') => single(Tok::Le, 2),
            b'<' if self.peek_at(start + 1) == Some(b'>') => single(Tok::Ne, 2),
            b'<' => single(Tok::Lt, 1),
            b'>' if self.peek_at(start + 1) == Some(b'=') => single(Tok::Ge, 2),
            b'>' => single(Tok::Gt, 1),
            b'\'' => return self.string(),
            b'0'..=b'9' => return self.number_or_date(),
            b'-' if self.peek_at(start + 1).is_some_and(|c| c.is_ascii_digit()) => {
                return self.number_or_date();
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => return Ok(self.ident()),
            _ => {
                let found = self.src[start..].chars().next().unwrap_or('?');
                return Err(self.err(ErrorKind::UnexpectedChar { found }, start));
            }
        };
        self.pos += len;
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    fn is_ident_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'_'
    }

    fn ident(&mut self) -> Token {
        let start = self.pos;
        while self.peek_at(self.pos).is_some_and(Self::is_ident_byte) {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        // A currency literal is a three-letter ISO code glued to an amount: USD5000, EUR10.50.
        let b = text.as_bytes();
        if b.len() > 3
            && b[..3].iter().all(u8::is_ascii_alphabetic)
            && b[3..].iter().all(u8::is_ascii_digit)
        {
            let mut end = self.pos;
            if self.peek_at(end) == Some(b'.')
                && self.peek_at(end + 1).is_some_and(|c| c.is_ascii_digit())
            {
                end += 1;
                while self.peek_at(end).is_some_and(|c| c.is_ascii_digit()) {
                    end += 1;
                }
            }
            if let Some(amount) = Number::parse(&self.src[start + 3..end]) {
                self.pos = end;
                return Token {
                    tok: Tok::Currency(text[..3].to_owned(), amount),
                    start,
                    end,
                };
            }
        }
        Token {
            tok: Tok::Ident(text.to_owned()),
            start,
            end: self.pos,
        }
    }

    fn digits(&self, from: usize, n: usize) -> Option<u32> {
        let s = self.src.get(from..from + n)?;
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    }

    fn number_or_date(&mut self) -> Result<Token> {
        let start = self.pos;
        if let Some(tok) = self.date(start)? {
            return Ok(tok);
        }
        let mut i = start;
        if self.peek_at(i) == Some(b'-') {
            i += 1;
        }
        while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if self.peek_at(i) == Some(b'.') && self.peek_at(i + 1).is_some_and(|c| c.is_ascii_digit())
        {
            i += 1;
            while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
        }
        if self.peek_at(i).is_some_and(Self::is_ident_byte) {
            let mut end = i;
            while self.peek_at(end).is_some_and(Self::is_ident_byte) {
                end += 1;
            }
            let text = self.src[start..end].to_owned();
            return Err(self.err(ErrorKind::InvalidNumber { text }, start));
        }
        let text = &self.src[start..i];
        let number = Number::parse(text).ok_or_else(|| {
            self.err(
                ErrorKind::InvalidNumber {
                    text: text.to_owned(),
                },
                start,
            )
        })?;
        self.pos = i;
        Ok(Token {
            tok: Tok::Number(number),
            start,
            end: i,
        })
    }

    /// Lexes `YYYY-MM-DD` with an optional `Thh:mm:ss[.fff](Z|±hh:mm|±hhmm)`; `None` if the text
    /// does not start like a date.
    fn date(&mut self, start: usize) -> Result<Option<Token>> {
        let shape = self.digits(start, 4).is_some()
            && self.peek_at(start + 4) == Some(b'-')
            && self.digits(start + 5, 2).is_some()
            && self.peek_at(start + 7) == Some(b'-')
            && self.digits(start + 8, 2).is_some();
        if !shape {
            return Ok(None);
        }
        let mut end = start + 10;
        while self
            .peek_at(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'+' | b'-'))
        {
            end += 1;
        }
        let src = self.src;
        let text = &src[start..end];
        let bad = || {
            ParseError::new(
                ErrorKind::InvalidDate {
                    text: text.to_owned(),
                },
                src,
                start,
            )
        };
        let (y, m, d) = (
            self.digits(start, 4).ok_or_else(bad)?,
            self.digits(start + 5, 2).ok_or_else(bad)?,
            self.digits(start + 8, 2).ok_or_else(bad)?,
        );
        let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(bad)?;
        self.pos = end;
        if end == start + 10 {
            return Ok(Some(Token {
                tok: Tok::Date(date),
                start,
                end,
            }));
        }
        let dt = parse_time(&text[10..])
            .and_then(|(time, offset)| offset.from_local_datetime(&date.and_time(time)).single())
            .ok_or_else(bad)?;
        Ok(Some(Token {
            tok: Tok::DateTime(dt),
            start,
            end,
        }))
    }

    fn string(&mut self) -> Result<Token> {
        let start = self.pos;
        let (raw, end) = lex_string(self.src, start)?;
        self.pos = end;
        Ok(Token {
            tok: Tok::Str(raw),
            start,
            end,
        })
    }
}

/// Parses `Thh:mm:ss[.f+](Z|±hh:mm|±hhmm)`.
fn parse_time(s: &str) -> Option<(NaiveTime, FixedOffset)> {
    let s = s.strip_prefix('T')?;
    let num = |t: &str| -> Option<u32> {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (h, m, sec) = (num(s.get(0..2)?)?, num(s.get(3..5)?)?, num(s.get(6..8)?)?);
    if s.get(2..3)? != ":" || s.get(5..6)? != ":" {
        return None;
    }
    let mut rest = &s[8..];
    let mut nanos = 0u32;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let frac: u32 = r[..n].parse().ok()?;
        nanos = frac * 10u32.pow(9 - n as u32);
        rest = &r[n..];
    }
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    let offset = if rest == "Z" {
        FixedOffset::east_opt(0)?
    } else {
        let sign = match rest.get(0..1)? {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let body = &rest[1..];
        let (oh, om) = match body.len() {
            5 if &body[2..3] == ":" => (num(&body[0..2])?, num(&body[3..5])?),
            4 => (num(&body[0..2])?, num(&body[2..4])?),
            _ => return None,
        };
        if oh > 23 || om > 59 {
            return None;
        }
        FixedOffset::east_opt(sign * (oh as i32 * 3600 + om as i32 * 60))?
    };
    Some((time, offset))
}

/// Lexes the string literal whose opening quote is at `start`; returns its escaped form and the
/// offset just past the closing quote.
pub(crate) fn lex_string(src: &str, start: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        let at = start + 1 + i;
        match c {
            '\'' => return Ok((out, at + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    break;
                };
                match e {
                    'n' | 'N' => out.push('\n'),
                    'r' | 'R' => out.push('\r'),
                    't' | 'T' => out.push('\t'),
                    'b' | 'B' => out.push('\u{8}'),
                    'f' | 'F' => out.push('\u{c}'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    '\\' | '%' | '_' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'u' => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            let digit = chars.next().and_then(|(_, h)| h.to_digit(16));
                            let Some(d) = digit else {
                                return Err(ParseError::new(
                                    ErrorKind::InvalidUnicodeEscape,
                                    src,
                                    at,
                                ));
                            };
                            code = code * 16 + d;
                        }
                        let Some(ch) = char::from_u32(code) else {
                            return Err(ParseError::new(ErrorKind::InvalidUnicodeEscape, src, at));
                        };
                        out.push(ch);
                    }
                    found => {
                        return Err(ParseError::new(ErrorKind::InvalidEscape { found }, src, at));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::new(ErrorKind::UnterminatedString, src, start))
}

/// Turns a string's escaped form into its value: `\\` becomes `\`; `\%` and `\_` keep their
/// backslash (outside LIKE they are just those two characters).
pub(crate) fn decode_string(escaped: &str) -> String {
    if !escaped.contains('\\') {
        return escaped.to_owned();
    }
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'\\') {
            chars.next();
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src, 0)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn kind(src: &str) -> ErrorKind {
        tokenize(src, 0).unwrap_err().kind
    }

    fn s(x: &str) -> Tok {
        Tok::Str(x.to_owned())
    }

    #[test]
    fn string_escapes_decode_to_escaped_form() {
        let cases: &[(&str, &str)] = &[
            (r"'plain'", "plain"),
            (r"'a\nb\Nc'", "a\nb\nc"),
            (r"'\r\R\t\T'", "\r\r\t\t"),
            (r"'\b\B\f\F'", "\u{8}\u{8}\u{c}\u{c}"),
            (r#"'\"\''"#, "\"'"),
            (r"'a\\b'", r"a\\b"),
            (r"'50\%'", r"50\%"),
            (r"'a\_b'", r"a\_b"),
            (r"'caf\u00e9'", "café"),
            (r"'naïve ünïcode'", "naïve ünïcode"),
            ("''", ""),
        ];
        for (src, want) in cases {
            assert_eq!(toks(src), vec![s(want), Tok::Eof], "{src}");
        }
    }

    #[test]
    fn lexer_errors_have_kinds_and_offsets() {
        let cases: &[(&str, ErrorKind, usize)] = &[
            (r"'a\qb'", ErrorKind::InvalidEscape { found: 'q' }, 2),
            (r"'\u12'", ErrorKind::InvalidUnicodeEscape, 1),
            (r"'\ud800'", ErrorKind::InvalidUnicodeEscape, 1),
            ("x = 'open", ErrorKind::UnterminatedString, 4),
            ("'trailing\\", ErrorKind::UnterminatedString, 0),
            ("a # b", ErrorKind::UnexpectedChar { found: '#' }, 2),
            ("\"dq\"", ErrorKind::UnexpectedChar { found: '"' }, 0),
            (
                "12abc",
                ErrorKind::InvalidNumber {
                    text: "12abc".into(),
                },
                0,
            ),
            (
                "2024-02-30",
                ErrorKind::InvalidDate {
                    text: "2024-02-30".into(),
                },
                0,
            ),
            (
                "2024-01-01T25:00:00Z",
                ErrorKind::InvalidDate {
                    text: "2024-01-01T25:00:00Z".into(),
                },
                0,
            ),
            (
                "2024-01-01T10:00:00",
                ErrorKind::InvalidDate {
                    text: "2024-01-01T10:00:00".into(),
                },
                0,
            ),
        ];
        for (src, want, offset) in cases {
            let err = tokenize(src, 0).unwrap_err();
            assert_eq!(&err.kind, want, "{src}");
            assert_eq!(err.position.offset, *offset, "{src}");
        }
        assert_eq!(kind("é"), ErrorKind::UnexpectedChar { found: 'é' });
    }

    #[test]
    fn numbers_dates_currency_and_operators() {
        let dt = |s: &str| Tok::DateTime(DateTime::parse_from_rfc3339(s).unwrap());
        let num = |s: &str| Tok::Number(Number::parse(s).unwrap());
        let cases: Vec<(&str, Vec<Tok>)> = vec![
            ("42", vec![num("42")]),
            ("-3.25", vec![num("-3.25")]),
            (
                "2024-01-31",
                vec![Tok::Date(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())],
            ),
            ("2024-01-31T10:00:00Z", vec![dt("2024-01-31T10:00:00Z")]),
            (
                "2024-01-31T10:00:00+01:00",
                vec![dt("2024-01-31T10:00:00+01:00")],
            ),
            (
                "2024-01-31T10:00:00.000+0000",
                vec![dt("2024-01-31T10:00:00Z")],
            ),
            (
                "2024-01-31T10:00:00.5-0530",
                vec![dt("2024-01-31T10:00:00.5-05:30")],
            ),
            (
                "USD5000",
                vec![Tok::Currency("USD".into(), Number::parse("5000").unwrap())],
            ),
            (
                "EUR10.50",
                vec![Tok::Currency("EUR".into(), Number::parse("10.50").unwrap())],
            ),
            ("USDX", vec![Tok::Ident("USDX".into())]),
            (
                "a1.b",
                vec![Tok::Ident("a1".into()), Tok::Dot, Tok::Ident("b".into())],
            ),
            (
                "= != <> < <= > >=",
                vec![
                    Tok::Eq,
                    Tok::Ne,
                    Tok::Ne,
                    Tok::Lt,
                    Tok::Le,
                    Tok::Gt,
                    Tok::Ge,
                ],
            ),
            (
                ":x,()",
                vec![
                    Tok::Colon,
                    Tok::Ident("x".into()),
                    Tok::Comma,
                    Tok::LParen,
                    Tok::RParen,
                ],
            ),
        ];
        for (src, mut want) in cases {
            want.push(Tok::Eof);
            assert_eq!(toks(src), want, "{src}");
        }
    }

    #[test]
    fn decode_string_keeps_like_escapes() {
        let cases = [
            (r"a\\b", r"a\b"),
            (r"50\%", r"50\%"),
            (r"a\_b", r"a\_b"),
            (r"\\\\", r"\\"),
            ("plain", "plain"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_string(raw), want, "{raw}");
        }
    }
}
