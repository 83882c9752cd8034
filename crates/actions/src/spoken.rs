//! Names and numbers as speech recognition gives them: a search term read the way a caller said
//! it, records ranked by how well they fit it, and an ambiguous answer turned into a question.
//!
//! A term is one of three things ([`Term`]):
//! - an email, written or spoken as words (`sarah dot johnson at acme dot com`);
//! - a phone number, whole or its last 4 to 7 digits, in digits or digit words, read with the
//!   caller's country (a trunk `0` dropped, a country code compared when both sides have one);
//! - words: a name, with or without the company (`Sara Jonson from Acme`).
//!
//! Words are compared token by token, order-free, with Jaro-Winkler similarity ([`strsim`]) and
//! Double Metaphone codes ([`rphonetic`]): two tokens that sound alike score at least
//! [`SOUNDS_ALIKE`]. Tokens said apart or run together (`North Wind`, `davidkim`) are compared
//! joined too. A record's score is in `0..=1`.
//!
//! The search itself ([`crate::exec`]) runs the plain query first; only when it finds nothing
//! does it ask the org for candidates ([`candidates`]: name parts by prefix, phone numbers by
//! their last four digits, queries any Salesforce org answers) and rank them here. When the best
//! records are within [`MARGIN`] of each other, the answer is ambiguous and carries a question
//! the model can ask the caller.

use std::cell::OnceCell;

use callforce_soql::{Cond, LikePattern, escape_like};
use rphonetic::DoubleMetaphone;
use serde_json::Value;

/// The least score of a candidate found by a close match (words) to be offered at all.
pub const MIN_WORDS: f64 = 0.8;
/// The least score of a candidate found by a close email.
pub const MIN_EMAIL: f64 = 0.9;
/// The least score of a candidate found by a partial phone number (its digits end the number).
pub const MIN_PHONE: f64 = 0.85;
/// Records within this of the best score are as good as it: the answer is ambiguous.
pub const MARGIN: f64 = 0.05;
/// The score of two tokens whose Double Metaphone codes (of two letters or more) agree.
pub const SOUNDS_ALIKE: f64 = 0.9;
/// Words whose Jaro-Winkler similarity is below this are not compared by sound.
const FAR_APART: f64 = 0.5;
/// The most candidates a close-match query asks the org for.
pub const MAX_CANDIDATES: u64 = 200;
/// The most term tokens that become candidate conditions.
const MAX_TOKENS: usize = 6;
/// A token covers a name part when their similarity reaches this.
const COVERS: f64 = 0.85;
/// The weight of the term's tokens in a score; the rest is how much of the name was said.
const TERM_WEIGHT: f64 = 0.8;
/// Words that join a name to its company when spoken, never part of a name.
const STOP: &[&str] = &[
    "at", "from", "with", "of", "the", "and", "in", "for", "mr", "mrs", "ms", "dr",
];
/// Company suffixes said in full or short: compared in their short form.
const SHORT: &[(&str, &str)] = &[
    ("corporation", "corp"),
    ("company", "co"),
    ("incorporated", "inc"),
    ("limited", "ltd"),
];
/// First sounds that speech recognition writes one way or another, for candidate prefixes:
/// `Katherine`/`Catherine`, `Right`/`Wright`, `Emilia`/`Amelia`.
const INITIALS: &[(&str, &str)] = &[
    ("k", "c"),
    ("c", "k"),
    ("c", "s"),
    ("s", "c"),
    ("q", "k"),
    ("ph", "f"),
    ("f", "ph"),
    ("j", "g"),
    ("g", "j"),
    ("r", "wr"),
    ("wr", "r"),
    ("n", "kn"),
    ("v", "w"),
    ("w", "v"),
    ("y", "i"),
    ("i", "y"),
    ("z", "s"),
    ("e", "a"),
    ("a", "e"),
    ("e", "i"),
    ("i", "e"),
];

/// How the records of an object are read: where the name, the company, the phone numbers and
/// the email are.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// The name's fields in spoken order (first name, last name), or the one name field.
    name: &'static [&'static str],
    /// Where the record's company is named (`Account.Name`, `Company`), often said with it.
    context: Option<&'static str>,
    /// Whether the context is a name the record is found by on its own (a lead's company).
    context_is_name: bool,
    /// Fields asked for candidates by the prefixes of the term's words, and whether each holds
    /// several words (then a word inside it is asked for too).
    name_fields: &'static [(&'static str, bool)],
    /// Phone fields.
    phones: &'static [&'static str],
    /// The email field.
    email: Option<&'static str>,
    /// What the question calls several records.
    noun: &'static str,
}

/// How records of `object` are read, if it is one whose records are searched by name and number.
pub fn profile(object: &str) -> Option<Profile> {
    match object {
        "Contact" => Some(Profile {
            name: &["FirstName", "LastName"],
            context: Some("Account.Name"),
            context_is_name: false,
            name_fields: &[("FirstName", false), ("LastName", false)],
            phones: &["Phone", "MobilePhone"],
            email: Some("Email"),
            noun: "people",
        }),
        "Lead" => Some(Profile {
            name: &["FirstName", "LastName"],
            context: Some("Company"),
            context_is_name: true,
            name_fields: &[("FirstName", false), ("LastName", false), ("Company", true)],
            phones: &["Phone", "MobilePhone"],
            email: Some("Email"),
            noun: "people",
        }),
        "Account" => Some(Profile {
            name: &["Name"],
            context: None,
            context_is_name: false,
            name_fields: &[("Name", true)],
            phones: &["Phone"],
            email: None,
            noun: "companies",
        }),
        _ => None,
    }
}

impl Profile {
    /// Every field the ranking reads.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.name
            .iter()
            .copied()
            .chain(self.context)
            .chain(self.phones.iter().copied())
            .chain(self.email)
    }
}

/// A search term as the caller said it.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// An email address, lower case.
    Email(String),
    /// A phone number or its end: its digits, and whether it was said with a `+` (and so
    /// starts with a country code).
    Digits {
        /// The digits said.
        digits: String,
        /// Whether the number starts with `+` and a country code.
        international: bool,
    },
    /// Words: a name, a company, both.
    Words(Vec<String>),
}

impl Term {
    /// Reads `term` as the caller said it.
    pub fn read(term: &str) -> Term {
        if let Some(e) = spoken_email(term) {
            return Term::Email(e);
        }
        if let Some(digits) = spoken_digits(term) {
            return Term::Digits {
                digits,
                international: term.trim_start().starts_with('+'),
            };
        }
        Term::Words(words(term))
    }

    /// The text the plain search should look for instead of the term as given, when reading it
    /// changed it (a spoken email, digits said as words).
    pub fn search_text(&self, term: &str) -> Option<String> {
        match self {
            Term::Email(e) if e != term => Some(e.clone()),
            Term::Digits { digits, .. } if !term.chars().any(|c| c.is_ascii_digit()) => {
                Some(digits.clone())
            }
            _ => None,
        }
    }

    /// The least score of a close match for this term.
    fn min_score(&self) -> f64 {
        match self {
            Term::Email(_) => MIN_EMAIL,
            Term::Digits { .. } => MIN_PHONE,
            Term::Words(_) => MIN_WORDS,
        }
    }
}

/// An email spoken as words (`sarah dot johnson at acme dot com`) or written with spaces, lower
/// case and without them; `None` when `term` is not an email.
pub fn spoken_email(term: &str) -> Option<String> {
    let lower = term.trim().to_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    // NB: `at` is the last one said: a local part may hold the word, a domain cannot.
    let at = tokens.iter().rposition(|t| *t == "at");
    let mut out = String::with_capacity(lower.len());
    for (i, t) in tokens.iter().enumerate() {
        match *t {
            _ if Some(i) == at => out.push('@'),
            "dot" | "period" | "point" => out.push('.'),
            "underscore" => out.push('_'),
            "dash" | "hyphen" => out.push('-'),
            "plus" => out.push('+'),
            t => out.push_str(t),
        }
    }
    let (local, domain) = out.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && out
            .chars()
            .all(|c| c.is_alphanumeric() || "._-+'@".contains(c));
    ok.then_some(out)
}

/// The digits of a phone number or its end, written (`555-0102`, `20 7790`) or said as digit
/// words (`four six zero zero`, `double seven`); at least four. `None` when `term` is not one.
pub fn spoken_digits(term: &str) -> Option<String> {
    let term = term.trim();
    let digits: String = if term
        .chars()
        .all(|c| c.is_ascii_digit() || " +()-./".contains(c))
    {
        term.chars().filter(char::is_ascii_digit).collect()
    } else {
        let mut out = String::new();
        let mut repeat = 1;
        for w in term.split(|c: char| c.is_whitespace() || c == '-' || c == ',') {
            let d = match w.to_lowercase().as_str() {
                "" => continue,
                "double" => {
                    repeat = 2;
                    continue;
                }
                "triple" => {
                    repeat = 3;
                    continue;
                }
                "zero" | "oh" | "o" => '0',
                "one" => '1',
                "two" => '2',
                "three" => '3',
                "four" => '4',
                "five" => '5',
                "six" => '6',
                "seven" => '7',
                "eight" => '8',
                "nine" => '9',
                w if w.chars().all(|c| c.is_ascii_digit()) => {
                    out.push_str(w);
                    continue;
                }
                _ => return None,
            };
            out.extend(std::iter::repeat_n(d, repeat));
            repeat = 1;
        }
        out
    };
    (digits.len() >= 4).then_some(digits)
}

/// The country calling code at the start of an international number's digits (ITU-T E.164:
/// one digit for 1 and 7, two for the codes listed, three otherwise).
fn calling_code(digits: &str) -> &str {
    const TWO: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    let n = if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if digits.get(..2).is_some_and(|p| TWO.contains(&p)) {
        2
    } else {
        3
    };
    digits.get(..n).unwrap_or(digits)
}

/// A phone number as (country code if it says one, national digits).
fn split_phone(raw: &str) -> (Option<String>, String) {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if raw.trim_start().starts_with('+') {
        let code = calling_code(&digits).to_owned();
        let national = digits[code.len()..].to_owned();
        (Some(code), national)
    } else {
        (None, digits)
    }
}

/// The caller's country calling code, from their number when it is international.
pub fn caller_country(caller_phone: Option<&str>) -> Option<String> {
    caller_phone.and_then(|p| split_phone(p).0)
}

/// The number a caller said, as (country, national digits): a country code said with `+`, else
/// the caller's country with its trunk prefix (`0`, or `1` before ten digits in +1) dropped.
fn said_number(
    digits: &str,
    international: bool,
    country: Option<&str>,
) -> (Option<String>, String) {
    if international {
        return split_phone(&format!("+{digits}"));
    }
    let national = match country {
        Some("1") if digits.len() == 11 && digits.starts_with('1') => &digits[1..],
        Some(c) if c != "1" && digits.len() > 7 && digits.starts_with('0') => &digits[1..],
        _ => digits,
    };
    (country.map(str::to_owned), national.to_owned())
}

/// How well a stored phone number fits the number said: 1 when it ends with it (0.9 when both
/// name different countries), 0.6 when the digits are elsewhere in it, else 0.
fn phone_score(said: &(Option<String>, String), stored: &str) -> f64 {
    let (country, national) = said;
    let (s_country, s_national) = split_phone(stored);
    if s_national.is_empty() || national.is_empty() {
        return 0.0;
    }
    if s_national.ends_with(national.as_str()) {
        match (country, s_country) {
            (Some(a), Some(b)) if *a != b => 0.9,
            _ => 1.0,
        }
    } else if s_national.contains(national.as_str()) {
        0.6
    } else {
        0.0
    }
}

/// The words of a name or term, as compared: lower case, apostrophes gone (`O'Brien` is
/// `obrien`), split at anything else that is not a letter or digit, company suffixes short,
/// joining words dropped, and a lone letter joined to the next word (`O Brien`, `C U`).
pub fn words(s: &str) -> Vec<String> {
    let lower = s.to_lowercase().replace('&', " and ");
    let raw: Vec<String> = lower
        .chars()
        .filter(|c| !matches!(c, '\'' | '\u{2019}'))
        .collect::<String>()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP.contains(w))
        .map(|w| {
            SHORT
                .iter()
                .find(|(long, _)| *long == w)
                .map_or(w, |(_, short)| short)
                .to_owned()
        })
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    let mut carry = String::new();
    for w in raw {
        if w.chars().count() == 1 {
            carry.push_str(&w);
            continue;
        }
        out.push(std::mem::take(&mut carry) + &w);
    }
    // Letters said last: a word of their own (`C U`), or one joined to the word before.
    match out.last_mut() {
        Some(last) if carry.chars().count() == 1 => last.push_str(&carry),
        _ if !carry.is_empty() => out.push(carry),
        _ => {}
    }
    out
}

/// A word as compared: its text, and its Double Metaphone codes (primary, alternate), worked
/// out once and only when asked for.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    codes: OnceCell<[String; 2]>,
}

impl Word {
    fn new(text: String) -> Self {
        Word {
            text,
            codes: OnceCell::new(),
        }
    }

    fn codes(&self) -> &[String; 2] {
        self.codes.get_or_init(|| {
            let r = DoubleMetaphone::default().double_metaphone(&self.text);
            [r.primary(), r.alternate()]
        })
    }
}

/// How alike two words are, `0..=1`: Jaro-Winkler, at least [`SOUNDS_ALIKE`] when a Double
/// Metaphone code of one equals one of the other's (0.85 when that code is one letter).
pub fn similarity(a: &str, b: &str) -> f64 {
    word_similarity(&Word::new(a.to_owned()), &Word::new(b.to_owned()))
}

/// [`similarity`] of two [`Word`]s.
fn word_similarity(a: &Word, b: &Word) -> f64 {
    if a.text == b.text {
        return 1.0;
    }
    let jw = strsim::jaro_winkler(&a.text, &b.text);
    // NB: sounding alike cannot raise a score already past it, and words this far apart in
    // spelling are not heard one for the other: no codes are worked out for them.
    if !(FAR_APART..SOUNDS_ALIKE).contains(&jw) {
        return jw;
    }
    let cb = b.codes();
    let shared = a
        .codes()
        .iter()
        .filter(|c| !c.is_empty() && cb.contains(c))
        .map(String::len)
        .max();
    match shared {
        Some(n) if n >= 2 => jw.max(SOUNDS_ALIKE),
        Some(_) => jw.max(0.85),
        None => jw,
    }
}

/// The words said, ready to compare: each word, and each two neighbours joined (`North Wind`
/// as `northwind`), worked out once for every record ranked.
struct Said {
    words: Vec<Word>,
    joined: Vec<Word>,
    run: String,
}

impl Said {
    fn new(ws: &[String]) -> Self {
        Said {
            words: ws.iter().cloned().map(Word::new).collect(),
            joined: ws
                .windows(2)
                .map(|w| Word::new(format!("{}{}", w[0], w[1])))
                .collect(),
            run: ws.concat(),
        }
    }
}

/// How well the words said name a record called `name` (its words in order) working at
/// `context`.
fn name_score(said: &Said, name: &[Word], context: &[Word]) -> f64 {
    let term = &said.words;
    if term.is_empty() || name.is_empty() {
        return 0.0;
    }
    let fit = |t: &Word| {
        name.iter()
            .chain(context)
            .map(|x| word_similarity(t, x))
            .fold(0.0, f64::max)
    };
    let fits: Vec<f64> = term.iter().map(fit).collect();
    let mut best = token_score(term, &fits, name);
    // Words said apart that are one in the name (`North Wind`, `Whit Acre`): joined when the
    // join fits better than either word alone (`Corp West` is two words of `Acme Corp West`).
    for (i, joined) in said.joined.iter().enumerate() {
        let f = fit(joined);
        if f <= fits[i].max(fits[i + 1]) {
            continue;
        }
        let mut merged: Vec<Word> = term.to_vec();
        merged.remove(i + 1);
        merged[i] = joined.clone();
        let mut merged_fits = fits.clone();
        merged_fits.remove(i + 1);
        merged_fits[i] = f;
        best = best.max(token_score(&merged, &merged_fits, name));
    }
    // A name said as fewer words than it has (`davidkim`), in either order. NB: only a run
    // about as long as the name's: a prefix alone (`acme` of `acmecorp`) is not the whole name.
    let whole: String = name.iter().map(|w| w.text.as_str()).collect();
    if term.len() < name.len() && said.run.chars().count() * 5 >= whole.chars().count() * 4 {
        let reversed: String = name.iter().rev().map(|w| w.text.as_str()).collect();
        let run =
            strsim::jaro_winkler(&said.run, &whole).max(strsim::jaro_winkler(&said.run, &reversed));
        if run >= 0.9 {
            best = best.max(TERM_WEIGHT * run + (1.0 - TERM_WEIGHT));
        }
    }
    best
}

/// The mean of each word's best match in the name or context (`fits`), weighed with the share
/// of the name's words that were said.
fn token_score(term: &[Word], fits: &[f64], name: &[Word]) -> f64 {
    let said = term.len() as f64;
    let covered = name
        .iter()
        .filter(|x| term.iter().any(|t| word_similarity(t, x) >= COVERS))
        .count() as f64;
    TERM_WEIGHT * fits.iter().sum::<f64>() / said
        + (1.0 - TERM_WEIGHT) * covered / name.len() as f64
}

/// A field of a record, following a relationship (`Account.Name`).
fn field<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(record, |v, p| v.get(p))
        .and_then(Value::as_str)
}

/// A term ready to score records against: the number said in the caller's country, the email,
/// or the words.
enum Prepared {
    Number((Option<String>, String)),
    Email(String),
    Words(Said),
}

impl Prepared {
    fn new(term: &Term, country: Option<&str>) -> Self {
        match term {
            Term::Digits {
                digits,
                international,
            } => Prepared::Number(said_number(digits, *international, country)),
            Term::Email(e) => Prepared::Email(e.clone()),
            Term::Words(ws) => Prepared::Words(Said::new(ws)),
        }
    }
}

/// The words of a record's fields.
fn field_words(record: &Value, fields: impl IntoIterator<Item = &'static str>) -> Vec<Word> {
    fields
        .into_iter()
        .filter_map(|f| field(record, f))
        .flat_map(words)
        .map(Word::new)
        .collect()
}

/// How well `record` fits `term`, `0..=1`.
pub fn score(p: &Profile, term: &Term, country: Option<&str>, record: &Value) -> f64 {
    prepared_score(p, &Prepared::new(term, country), record)
}

fn prepared_score(p: &Profile, term: &Prepared, record: &Value) -> f64 {
    match term {
        Prepared::Number(said) => p
            .phones
            .iter()
            .filter_map(|f| field(record, f))
            .map(|stored| phone_score(said, stored))
            .fold(0.0, f64::max),
        Prepared::Email(e) => {
            let Some(stored) = p.email.and_then(|f| field(record, f)) else {
                return 0.0;
            };
            let stored = stored.to_lowercase();
            if stored == *e {
                1.0
            } else {
                strsim::normalized_levenshtein(e, &stored)
            }
        }
        Prepared::Words(said) => {
            let name = field_words(record, p.name.iter().copied());
            let context = field_words(record, p.context);
            let mut s = name_score(said, &name, &context);
            if p.context_is_name {
                s = s.max(name_score(said, &context, &name));
            }
            s
        }
    }
}

/// The condition asking the org for records that may be what `term` means, when there is one:
/// name parts starting like each word said (and like its usual other spellings), phone numbers
/// ending with the last four digits said, or, for an email, the names in its local part.
pub fn candidates(p: &Profile, term: &Term) -> Option<Cond> {
    let mut conds = Vec::new();
    match term {
        Term::Digits { digits, .. } => {
            let last4 = &digits[digits.len().checked_sub(4)?..];
            for f in p.phones {
                conds.push(Cond::like(*f, LikePattern::ends_with(last4)));
            }
        }
        Term::Email(e) => {
            let local = e.split('@').next().unwrap_or_default();
            if let Some(f) = p.email
                && let Some(head) = local.get(..local.len().min(3))
                && head.len() >= 2
            {
                conds.push(Cond::like(f, LikePattern::starts_with(head)));
            }
            conds.extend(name_conds(p, &words(local)));
        }
        Term::Words(ws) => conds.extend(name_conds(p, ws)),
    }
    let mut it = conds.into_iter();
    let first = it.next()?;
    Some(it.fold(first, Cond::or))
}

/// `field LIKE 'pre%'` (and `LIKE '% pre%'` in a field of several words) for the prefix of each
/// word and of its other spellings.
fn name_conds(p: &Profile, ws: &[String]) -> Vec<Cond> {
    let mut prefixes: Vec<String> = Vec::new();
    for w in ws.iter().take(MAX_TOKENS) {
        let mut add = |s: &str, n: usize| {
            if let Some(pre) = s.get(..n.min(s.len()))
                && pre.len() >= 2
                && !prefixes.iter().any(|x| x == pre)
            {
                prefixes.push(pre.to_owned());
            }
        };
        add(w, 2);
        for (from, to) in INITIALS {
            if let Some(rest) = w.strip_prefix(from) {
                add(&format!("{to}{rest}"), to.len() + 1);
            }
        }
    }
    let mut out = Vec::new();
    for pre in &prefixes {
        for (f, several) in p.name_fields {
            out.push(Cond::like(*f, LikePattern::starts_with(pre)));
            if *several {
                let inside = format!("% {}%", escape_like(pre));
                out.push(Cond::like(*f, LikePattern::from_escaped(&inside)));
            }
        }
    }
    out
}

/// Records ranked for `term`, best first (ties keep their order), with their scores.
pub fn rank(
    p: &Profile,
    term: &Term,
    country: Option<&str>,
    records: Vec<Value>,
) -> Vec<(f64, Value)> {
    let prepared = Prepared::new(term, country);
    let mut scored: Vec<(f64, Value)> = records
        .into_iter()
        .map(|r| (prepared_score(p, &prepared, &r), r))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

/// What a ranked search answers: its records and, when several fit about equally, the question
/// that tells them apart.
#[derive(Debug)]
pub struct Answer {
    /// The records, best first.
    pub records: Vec<Value>,
    /// Whether the best records fit about equally.
    pub ambiguous: bool,
    /// The question to ask the caller when ambiguous.
    pub question: Option<String>,
}

/// The answer to `ranked`, of `total` records the org found: for a close match (`close`), only
/// the records that fit well enough.
pub fn answer(
    p: &Profile,
    term: &Term,
    ranked: Vec<(f64, Value)>,
    total: u64,
    close: bool,
) -> Answer {
    let ranked: Vec<(f64, Value)> = if close {
        let min = term.min_score();
        ranked.into_iter().filter(|(s, _)| *s >= min).collect()
    } else {
        ranked
    };
    let top = ranked.first().map_or(0.0, |(s, _)| *s);
    let tied = ranked
        .iter()
        .take_while(|(s, _)| *s >= top - MARGIN)
        .count();
    let records: Vec<Value> = ranked.into_iter().map(|(_, r)| r).collect();
    if tied < 2 {
        return Answer {
            records,
            ambiguous: false,
            question: None,
        };
    }
    // NB: when every record given fits equally, so may those the org left out of the list.
    let count = if tied == records.len() && !close {
        usize::try_from(total).unwrap_or(usize::MAX).max(tied)
    } else {
        tied
    };
    let question = question(p, &records[..tied], count);
    Answer {
        records,
        ambiguous: true,
        question: Some(question),
    }
}

/// A number as said in a question (`two`), words up to ten.
fn count_words(n: usize) -> String {
    const WORDS: [&str; 11] = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

/// How a record is named to the caller: `Sarah Johnson at Acme Corporation`, `Northwind
/// Traders`.
fn label(p: &Profile, record: &Value) -> String {
    let name: Vec<&str> = p.name.iter().filter_map(|f| field(record, f)).collect();
    let mut s = name.join(" ");
    if let Some(ctx) = p.context.and_then(|f| field(record, f)) {
        s.push_str(" at ");
        s.push_str(ctx);
    }
    s
}

/// The question that tells `tied` (of `count` equal fits) apart: `I found two: Sarah Johnson at
/// Acme Corporation, and Sarah Johnson at Johnson & Associates. Which one?`
fn question(p: &Profile, tied: &[Value], count: usize) -> String {
    const SHOWN: usize = 3;
    let mut labels: Vec<String> = tied.iter().take(SHOWN).map(|r| label(p, r)).collect();
    // Two records named alike are told apart by their numbers.
    let dup: Vec<bool> = labels
        .iter()
        .map(|l| labels.iter().filter(|x| *x == l).count() > 1)
        .collect();
    for (i, l) in labels.iter_mut().enumerate() {
        if dup[i]
            && let Some(phone) = p.phones.iter().find_map(|f| field(&tied[i], f))
        {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            let last4 = &digits[digits.len().saturating_sub(4)..];
            let spaced: Vec<String> = last4.chars().map(String::from).collect();
            l.push_str(&format!(" (number ending {})", spaced.join(" ")));
        }
    }
    let list = match labels.as_slice() {
        [a, b] => format!("{a}, and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
        [] => String::new(),
    };
    if count <= SHOWN {
        format!("I found {}: {list}. Which one?", count_words(count))
    } else {
        format!(
            "I found {} {} who could match, among them {list}. Which one? Their company or \
             email would tell them apart.",
            count_words(count),
            p.noun
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spoken_emails_are_read() {
        let cases = [
            (
                "sarah dot johnson at acme dot com",
                Some("sarah.johnson@acme.com"),
            ),
            (
                "Peter Dot Novak At Pinecrest C U Dot Example",
                Some("peter.novak@pinecrestcu.example"),
            ),
            (
                "nat underscore lee at mail dot example",
                Some("nat_lee@mail.example"),
            ),
            ("sarah.johnson @ acme.com", Some("sarah.johnson@acme.com")),
            ("Sarah at Acme", None),
            ("at dot com", None),
            ("Sarah Johnson", None),
        ];
        for (said, want) in cases {
            assert_eq!(spoken_email(said).as_deref(), want, "{said}");
        }
    }

    #[test]
    fn spoken_digits_are_read() {
        let cases = [
            ("4567", Some("4567")),
            ("20 7790", Some("207790")),
            ("(555) 123-4567", Some("5551234567")),
            ("four six zero zero", Some("4600")),
            ("five five five double seven oh one", Some("5557701")),
            ("123", None),
            ("four six", None),
            ("Sarah", None),
            ("four seasons", None),
        ];
        for (said, want) in cases {
            assert_eq!(spoken_digits(said).as_deref(), want, "{said}");
        }
    }

    #[test]
    fn words_are_compared_without_apostrophes_joiners_or_lone_letters() {
        let cases = [
            ("Kate O'Brien", vec!["kate", "obrien"]),
            ("Kate O Brien", vec!["kate", "obrien"]),
            ("Johnson & Associates", vec!["johnson", "associates"]),
            ("Sara Jonson from Acme", vec!["sara", "jonson", "acme"]),
            ("Acme Corporation - West", vec!["acme", "corp", "west"]),
            ("Pinecrest C U", vec!["pinecrest", "cu"]),
        ];
        for (s, want) in cases {
            assert_eq!(words(s), want, "{s}");
        }
    }

    #[test]
    fn names_that_sound_alike_score_high() {
        for (a, b) in [
            ("smith", "schmidt"),
            ("rite", "wright"),
            ("cate", "kate"),
            ("morrow", "moreau"),
            ("jonson", "johnson"),
            ("sara", "sarah"),
        ] {
            assert!(similarity(a, b) >= 0.85, "{a} {b}: {}", similarity(a, b));
        }
        for (a, b) in [
            ("thompson", "alvarez"),
            ("olivia", "chloe"),
            ("sarah", "michael"),
        ] {
            assert!(similarity(a, b) < 0.75, "{a} {b}: {}", similarity(a, b));
        }
    }

    #[test]
    fn calling_codes_are_one_two_or_three_digits() {
        for (digits, want) in [
            ("15551234567", "1"),
            ("442079460958", "44"),
            ("74951234567", "7"),
            ("353123456", "353"),
        ] {
            assert_eq!(calling_code(digits), want, "{digits}");
        }
    }

    #[test]
    fn partial_numbers_match_the_end_of_a_number_in_the_callers_country() {
        let us = Some("1");
        let cases = [
            ("4567", us, "(555) 123-4567", 1.0),
            ("234567", us, "+1 555 123 4567", 1.0),
            ("15551234567", us, "(555) 123-4567", 1.0),
            ("4567", Some("44"), "+1 555 123 4567", 0.9),
            ("02079460958", Some("44"), "+44 20 7946 0958", 1.0),
            ("1234", us, "+15551234700", 0.6),
            ("4568", us, "(555) 123-4567", 0.0),
        ];
        for (said, country, stored, want) in cases {
            let s = said_number(said, false, country);
            assert_eq!(phone_score(&s, stored), want, "{said} {country:?} {stored}");
        }
    }

    fn contact(first: &str, last: &str, account: &str) -> Value {
        json!({"FirstName": first, "LastName": last, "Account": {"Name": account}, "Phone": "(555) 777-0102"})
    }

    #[test]
    fn equal_fits_make_a_question_and_a_clear_fit_does_not() {
        let p = profile("Contact").expect("profile");
        let a = contact("Sarah", "Johnson", "Acme Corporation");
        let b = contact("Sara", "Johnston", "Globex");
        let term = Term::read("Sarah Jonson");
        let got = answer(
            &p,
            &term,
            rank(&p, &term, None, vec![a.clone(), b.clone()]),
            2,
            true,
        );
        assert!(got.ambiguous);
        assert_eq!(
            got.question.as_deref(),
            Some(
                "I found two: Sarah Johnson at Acme Corporation, and Sara Johnston at Globex. Which one?"
            )
        );
        let term = Term::read("Sarah Johnson from Acme");
        let got = answer(&p, &term, rank(&p, &term, None, vec![b, a]), 2, true);
        assert!(!got.ambiguous);
        assert_eq!(got.records[0]["LastName"], "Johnson");
    }

    #[test]
    fn records_named_alike_are_told_apart_by_their_numbers() {
        let p = profile("Account").expect("profile");
        let a = json!({"Name": "Acme", "Phone": "(555) 100-2000"});
        let b = json!({"Name": "Acme", "Phone": "(555) 100-2100"});
        assert_eq!(
            question(&p, &[a, b], 2),
            "I found two: Acme (number ending 2 0 0 0), and Acme (number ending 2 1 0 0). Which one?"
        );
    }

    #[test]
    fn a_list_of_equal_fits_counts_those_the_org_left_out() {
        let p = profile("Contact").expect("profile");
        let people: Vec<Value> = ["Ann", "Bob", "Cy", "Di"]
            .iter()
            .map(|f| contact(f, "Lee", "Acme"))
            .collect();
        let term = Term::read("Lee");
        let got = answer(&p, &term, rank(&p, &term, None, people), 12, false);
        assert_eq!(
            got.question.as_deref(),
            Some(
                "I found 12 people who could match, among them Ann Lee at Acme, Bob Lee at Acme, \
                 and Cy Lee at Acme. Which one? Their company or email would tell them apart."
            )
        );
    }

    #[test]
    fn a_first_name_alone_does_not_pick_a_stranger() {
        let p = profile("Contact").expect("profile");
        let term = Term::read("Mark Thompson");
        let s = score(
            &p,
            &term,
            None,
            &contact("Mark", "Alvarez", "Acme Corporation"),
        );
        assert!(s < MIN_WORDS, "{s}");
    }
}
