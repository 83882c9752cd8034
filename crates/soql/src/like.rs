//! `LIKE` matching and case-insensitive comparison, as SOQL does them on string fields.
//!
//! [`like_match`] takes a pattern in the escaped form of [`crate::LikePattern`]: `%` matches any
//! run of characters, `_` exactly one, and `\%`, `\_`, `\\` match `%`, `_`, `\` literally.
//! Matching is case-insensitive and runs in O(pattern × text) time without recursion.

use std::cmp::Ordering;

/// One pattern element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatChar {
    /// A literal character (already lower-cased by [`glob_match`]).
    Lit(char),
    /// Exactly one character.
    One,
    /// Any run of characters, including none.
    Any,
}

/// True when `text` matches the LIKE `pattern` (escaped form), ignoring case.
pub fn like_match(pattern: &str, text: &str) -> bool {
    let mut pat = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => PatChar::Any,
            '_' => PatChar::One,
            // NB: a trailing lone backslash matches a backslash.
            '\\' => PatChar::Lit(chars.next().unwrap_or('\\')),
            c => PatChar::Lit(c),
        });
    }
    glob_match(&pat, text)
}

fn fold(c: char) -> char {
    // Single-char lowercase mapping; multi-char mappings keep their first char.
    c.to_lowercase().next().unwrap_or(c)
}

/// Matches `text` against `pat` ignoring case (iterative, backtracking to the last `Any`).
pub(crate) fn glob_match(pat: &[PatChar], text: &str) -> bool {
    let text: Vec<char> = text.chars().map(fold).collect();
    let pat: Vec<PatChar> = pat
        .iter()
        .map(|p| match *p {
            PatChar::Lit(c) => PatChar::Lit(fold(c)),
            other => other,
        })
        .collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(PatChar::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(PatChar::One) => {
                p += 1;
                t += 1;
            }
            Some(PatChar::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|c| *c == PatChar::Any)
}

/// Compares two strings ignoring case, as SOQL compares and sorts string fields.
pub fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.chars().map(fold).cmp(b.chars().map(fold))
}

/// True when two strings are equal ignoring case.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    cmp_ignore_case(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_match_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("Acme", "acme", true),
            ("Acme", "Acme Corp", false),
            ("Acme%", "Acme Corp", true),
            ("acme%", "ACME", true),
            ("%corp", "Acme Corp", true),
            ("%cm%", "Acme", true),
            ("%", "", true),
            ("%", "anything", true),
            ("", "", true),
            ("", "x", false),
            ("_", "x", true),
            ("_", "", false),
            ("_", "xy", false),
            ("A_me", "Acme", true),
            ("A_me", "Ame", false),
            ("%a%b%c%", "xxaxxbxxcxx", true),
            ("%a%b%c%", "xxaxxcxxbxx", false),
            (r"Ter\%", "Ter%", true),
            (r"Ter\%", "Terrible", false),
            (r"Ter\%%", "Ter% and more", true),
            (r"Ter\%%", "Terrible", false),
            (r"a\_b", "a_b", true),
            (r"a\_b", "axb", false),
            (r"a\\b", r"a\b", true),
            (r"a\\%", r"a\xyz", true),
            ("ÉCOLE%", "école normale", true),
            ("%%%x", "x", true),
            ("%_%", "", false),
            ("+1555%", "+15551234567", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(like_match(pattern, text), *want, "{pattern:?} ~ {text:?}");
        }
    }

    #[test]
    fn case_insensitive_comparison_table() {
        let cases = [
            ("abc", "ABC", Ordering::Equal),
            ("abc", "abd", Ordering::Less),
            ("B", "a", Ordering::Greater),
            ("Zürich", "ZÜRICH", Ordering::Equal),
            ("", "a", Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp_ignore_case(a, b), want, "{a} vs {b}");
        }
        assert!(eq_ignore_case("Acme", "aCME"));
    }
}
