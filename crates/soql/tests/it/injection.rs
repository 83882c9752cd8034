//! Injection: hostile values passed to the builders never change the query's shape.

use callforce_soql::*;

/// Values an attacker (or an unlucky caller) might hand the builder.
const HOSTILE: &[&str] = &[
    "",
    "'",
    "''",
    "\\",
    "\\'",
    "\\\\'",
    "O'Brien",
    "' OR Name != '",
    "x' OR Id != null OR Name = 'y",
    "'; DELETE FROM Account; --",
    "%",
    "_",
    "50%_off",
    "\\%",
    "\\_",
    "a\\%b\\_c",
    "line1\nline2",
    "tab\there\r\n",
    "\u{8}\u{c}\u{0}\u{1b}\u{7f}",
    "\"double\"",
    "ünïcödé ✓ 日本語 🎉",
    "\u{2028}\u{2029}",
    "} RETURNING User(Id)",
    "{braces}",
    "\\u0027",
    ") OR (Id != null",
    "LIMIT 1",
    ":bind",
    "AND",
    "or",
    "NOT",
    "a AND NOT b",
    "*",
    "?",
    "\"",
    "+1 (555) 123-4567",
    "^~!&|[]:",
];

fn single_compare(q: &Query) -> (&Expr, CompareOp, &Value) {
    match &q.filter {
        Some(Condition::Compare { lhs, op, value }) => (lhs, *op, value),
        other => panic!("expected exactly one comparison, got {other:?}"),
    }
}

#[test]
fn hostile_equality_values_stay_one_literal() {
    for x in HOSTILE {
        let soql = QueryBuilder::new("Contact")
            .select(["Id", "Name"])
            .filter(Cond::eq("Name", *x))
            .limit(1)
            .to_soql()
            .unwrap();
        let q = parse_query(&soql).unwrap_or_else(|e| panic!("{x:?} -> {soql}: {e}"));
        let (lhs, op, value) = single_compare(&q);
        assert_eq!(*lhs, Expr::Field(FieldPath::new(["Name"])), "{soql}");
        assert_eq!(op, CompareOp::Eq);
        assert_eq!(*value, Value::String((*x).to_owned()), "{soql}");
        assert_eq!(q.limit, Some(1), "{soql}");
        assert_eq!(q.select.len(), 2, "{soql}");
        assert!(!soql.contains('\n'), "a newline reached the wire: {soql:?}");
    }
}

#[test]
fn hostile_like_values_match_only_themselves() {
    for x in HOSTILE {
        let soql = QueryBuilder::new("Contact")
            .filter(Cond::like("Name", LikePattern::exact(x)))
            .to_soql()
            .unwrap();
        let q = parse_query(&soql).unwrap_or_else(|e| panic!("{x:?} -> {soql}: {e}"));
        let Some(Condition::Like {
            pattern: LikeValue::Pattern(p),
            ..
        }) = &q.filter
        else {
            panic!("{soql}: expected one LIKE");
        };
        assert_eq!(p.literal_text().as_deref(), Some(*x), "{soql}");
        assert!(like_match(p.as_str(), x), "{soql} should match {x:?}");
        let other = format!("{x}z");
        assert!(
            !like_match(p.as_str(), &other),
            "{soql} must not match {other:?}"
        );

        let soql = QueryBuilder::new("Contact")
            .filter(Cond::like("Name", LikePattern::starts_with(x)))
            .to_soql()
            .unwrap();
        let q = parse_query(&soql).unwrap();
        let Some(Condition::Like {
            pattern: LikeValue::Pattern(p),
            ..
        }) = &q.filter
        else {
            panic!("{soql}: expected one LIKE");
        };
        assert!(like_match(p.as_str(), &format!("{x}tail")), "{soql}");
    }
}

#[test]
fn hostile_in_lists_keep_their_length() {
    let soql = QueryBuilder::new("Contact")
        .filter(Cond::is_in("Name", HOSTILE.iter().copied()))
        .to_soql()
        .unwrap();
    let q = parse_query(&soql).unwrap();
    let Some(Condition::InList {
        values, negated, ..
    }) = &q.filter
    else {
        panic!("{soql}");
    };
    assert!(!negated);
    let want: Vec<Value> = HOSTILE.iter().map(|x| Value::String((*x).into())).collect();
    assert_eq!(*values, want);
}

#[test]
fn hostile_search_terms_stay_one_phrase_or_words() {
    for x in HOSTILE {
        let sosl = SearchBuilder::phrase(*x)
            .returning(ReturningBuilder::new("Contact").fields(["Id"]))
            .to_sosl()
            .unwrap();
        let s = parse_search(&sosl).unwrap_or_else(|e| panic!("{x:?} -> {sosl}: {e}"));
        assert_eq!(s.term, SearchExpr::Phrase((*x).to_owned()), "{sosl}");
        assert_eq!(s.returning.len(), 1, "{sosl}");
        assert_eq!(s.limit, None);

        if x.trim().is_empty() {
            continue;
        }
        let sosl = SearchBuilder::words(x).to_sosl().unwrap();
        let s = parse_search(&sosl).unwrap_or_else(|e| panic!("{x:?} -> {sosl}: {e}"));
        let words: Vec<SearchExpr> = x
            .split_whitespace()
            .map(|w| SearchExpr::Word(SearchWord::literal(w)))
            .collect();
        let want = if words.len() == 1 {
            words[0].clone()
        } else {
            SearchExpr::And(words)
        };
        assert_eq!(s.term, want, "{sosl}");
        assert!(s.returning.is_empty(), "{sosl}");
    }
}
