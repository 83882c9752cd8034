//! Properties: `parse(print(ast)) == ast` for generated trees, and the parser never panics on
//! arbitrary or mutated input (and whatever it accepts prints back to the same tree).

use callforce_soql::*;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use proptest::collection::vec;
use proptest::prelude::*;

/// Names that are never reserved words, date literals or currency literals (they hold an `_`
/// after a capitalised stem of at least two letters).
fn name() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{1,5}_[a-z0-9]{0,3}"
}

fn path() -> impl Strategy<Value = FieldPath> {
    vec(name(), 1..4).prop_map(|segments| FieldPath { segments })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        ("-?[0-9]{1,6}\\.[0-9]{1,4}").prop_map(|s| Number::parse(&s).expect("valid number")),
    ]
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1900i32..2200, 1u32..13, 1u32..29)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("valid day"))
}

fn datetime() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (
        date(),
        0u32..24,
        0u32..60,
        0u32..60,
        0u32..1000,
        -12 * 60..14 * 60i32,
    )
        .prop_map(|(d, h, m, s, ms, off)| {
            let offset = FixedOffset::east_opt(off * 60).expect("valid offset");
            let naive = d.and_hms_milli_opt(h, m, s, ms).expect("valid time");
            offset
                .from_local_datetime(&naive)
                .single()
                .expect("fixed offsets are unambiguous")
        })
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::Days),
        Just(Unit::Weeks),
        Just(Unit::Months),
        Just(Unit::Quarters),
        Just(Unit::Years),
        Just(Unit::FiscalQuarters),
        Just(Unit::FiscalYears),
    ]
}

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![
        Just(Period::Week),
        Just(Period::Month),
        Just(Period::Quarter),
        Just(Period::Year),
        Just(Period::FiscalQuarter),
        Just(Period::FiscalYear),
    ]
}

fn date_literal() -> impl Strategy<Value = DateLiteral> {
    prop_oneof![
        Just(DateLiteral::Yesterday),
        Just(DateLiteral::Today),
        Just(DateLiteral::Tomorrow),
        Just(DateLiteral::Last90Days),
        Just(DateLiteral::Next90Days),
        period().prop_map(DateLiteral::This),
        period().prop_map(DateLiteral::Last),
        period().prop_map(DateLiteral::Next),
        (unit(), any::<u32>()).prop_map(|(u, n)| DateLiteral::LastN(u, n)),
        (unit(), any::<u32>()).prop_map(|(u, n)| DateLiteral::NextN(u, n)),
        (unit(), any::<u32>()).prop_map(|(u, n)| DateLiteral::NAgo(u, n)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        number().prop_map(Value::Number),
        ("[A-Z]{3}", "[0-9]{1,6}(\\.[0-9]{1,2})?").prop_map(|(code, amount)| Value::Currency {
            code,
            amount: Number::parse(&amount).expect("valid amount"),
        }),
        any::<String>().prop_map(Value::String),
        "[\\\\%_'\"a-c\n]{0,8}".prop_map(Value::String),
        date().prop_map(Value::Date),
        datetime().prop_map(Value::DateTime),
        date_literal().prop_map(Value::DateLiteral),
        (name(), vec(name(), 0..2)).prop_map(|(n, rest)| {
            let mut b = n;
            for r in rest {
                b.push('.');
                b.push_str(&r);
            }
            Value::Bind(b)
        }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let arg = prop_oneof![
        path().prop_map(|p| FunctionArg::Expr(Expr::Field(p))),
        number().prop_map(|n| FunctionArg::Value(Value::Number(n))),
        any::<String>().prop_map(|s| FunctionArg::Value(Value::String(s))),
    ];
    prop_oneof![
        3 => path().prop_map(Expr::Field),
        1 => (name(), vec(arg, 0..3)).prop_map(|(name, args)| Expr::Call(FunctionCall { name, args })),
    ]
}

fn like_pattern() -> impl Strategy<Value = LikePattern> {
    prop_oneof![
        any::<String>().prop_map(|s| LikePattern::from_escaped(&s)),
        "[\\\\%_'a-c]{0,8}".prop_map(|s| LikePattern::from_escaped(&s)),
        any::<String>().prop_map(|s| LikePattern::contains(&s)),
    ]
}

fn simple_query() -> impl Strategy<Value = Query> {
    (
        vec(path(), 1..3),
        name(),
        proptest::option::of(leaf()),
        proptest::option::of(0u64..100),
    )
        .prop_map(|(fields, object, filter, limit)| {
            let select = fields
                .into_iter()
                .map(|p| SelectItem::Expr {
                    expr: Expr::Field(p),
                    alias: None,
                })
                .collect();
            let mut q = Query::new(select, object);
            q.filter = filter;
            q.limit = limit;
            q
        })
}

fn leaf() -> impl Strategy<Value = Condition> {
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
    ];
    prop_oneof![
        4 => (expr(), op, value()).prop_map(|(lhs, op, value)| Condition::Compare { lhs, op, value }),
        1 => (expr(), like_pattern()).prop_map(|(lhs, p)| Condition::Like { lhs, pattern: LikeValue::Pattern(p) }),
        1 => (expr(), name()).prop_map(|(lhs, b)| Condition::Like { lhs, pattern: LikeValue::Bind(b) }),
        1 => (expr(), any::<bool>(), vec(value(), 1..4)).prop_map(|(lhs, negated, values)| Condition::InList { lhs, negated, values }),
        1 => (expr(), any::<bool>(), vec(value(), 1..3)).prop_map(|(lhs, excludes, values)| Condition::Includes { lhs, excludes, values }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let base = prop_oneof![
        6 => leaf(),
        1 => (expr(), any::<bool>(), (vec(path(), 1..2), name())).prop_map(|(lhs, negated, (fields, object))| {
            let select = fields.into_iter().map(|p| SelectItem::Expr { expr: Expr::Field(p), alias: None }).collect();
            Condition::InQuery { lhs, negated, query: Box::new(Query::new(select, object)) }
        }),
    ];
    base.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 2..4).prop_map(Condition::And),
            vec(inner.clone(), 2..4).prop_map(Condition::Or),
            inner.prop_map(|c| Condition::Not(Box::new(c))),
        ]
    })
}

fn order_item() -> impl Strategy<Value = OrderItem> {
    (
        expr(),
        proptest::option::of(prop_oneof![Just(Direction::Asc), Just(Direction::Desc)]),
        proptest::option::of(prop_oneof![Just(Nulls::First), Just(Nulls::Last)]),
    )
        .prop_map(|(expr, direction, nulls)| OrderItem {
            expr,
            direction,
            nulls,
        })
}

fn select_item() -> impl Strategy<Value = SelectItem> {
    prop_oneof![
        6 => (expr(), proptest::option::of(name())).prop_map(|(expr, alias)| SelectItem::Expr { expr, alias }),
        1 => prop_oneof![Just(FieldsKind::All), Just(FieldsKind::Standard), Just(FieldsKind::Custom)].prop_map(SelectItem::Fields),
        1 => simple_query().prop_map(|q| SelectItem::Subquery(Box::new(q))),
        1 => (name(), vec((name(), vec(path(), 1..3)), 1..3), vec(path(), 0..2)).prop_map(|(relationship, whens, otherwise)| {
            SelectItem::TypeOf(TypeOf {
                relationship,
                whens: whens.into_iter().map(|(object, fields)| TypeOfWhen { object, fields }).collect(),
                otherwise,
            })
        }),
    ]
}

fn category_filter() -> impl Strategy<Value = DataCategoryFilter> {
    (
        name(),
        prop_oneof![
            Just(CategorySelector::At),
            Just(CategorySelector::Above),
            Just(CategorySelector::Below),
            Just(CategorySelector::AboveOrBelow),
        ],
        vec(name(), 1..3),
    )
        .prop_map(|(group, selector, categories)| DataCategoryFilter {
            group,
            selector,
            categories,
        })
}

fn query() -> impl Strategy<Value = Query> {
    let with = prop_oneof![
        Just(WithClause::SecurityEnforced),
        Just(WithClause::UserMode),
        Just(WithClause::SystemMode),
        vec(category_filter(), 1..3).prop_map(WithClause::DataCategory),
    ];
    let group_by = (
        prop_oneof![
            Just(GroupKind::Plain),
            Just(GroupKind::Rollup),
            Just(GroupKind::Cube)
        ],
        vec(expr(), 1..3),
    )
        .prop_map(|(kind, items)| GroupBy { kind, items });
    (
        (
            vec(select_item(), 1..5),
            name(),
            proptest::option::of(name()),
            proptest::option::of(name()),
        ),
        (
            proptest::option::of(condition()),
            proptest::option::of(with),
        ),
        (
            proptest::option::of((group_by, proptest::option::of(condition()))),
            vec(order_item(), 0..3),
        ),
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(prop_oneof![
                Just(ForClause::View),
                Just(ForClause::Reference),
                Just(ForClause::Update)
            ]),
            proptest::option::of(prop_oneof![
                Just(UpdateClause::Tracking),
                Just(UpdateClause::Viewstat)
            ]),
        ),
    )
        .prop_map(
            |(
                (select, object, alias, scope),
                (filter, with),
                (group, order_by),
                (limit, offset, for_clause, update),
            )| {
                let mut q = Query::new(select, object);
                q.from.alias = alias;
                q.using_scope = scope;
                q.filter = filter;
                q.with = with;
                if let Some((g, having)) = group {
                    q.group_by = Some(g);
                    q.having = having;
                }
                q.order_by = order_by;
                q.limit = limit;
                q.offset = offset;
                q.for_clause = for_clause;
                q.update = update;
                q
            },
        )
}

fn word() -> impl Strategy<Value = SearchWord> {
    let piece = prop_oneof![
        4 => any::<String>().prop_map(WordPiece::Text),
        2 => "[a-z\\-+*?(){}\"' ]{1,4}".prop_map(WordPiece::Text),
        1 => prop_oneof![Just("and"), Just("OR"), Just("Not")].prop_map(|s| WordPiece::Text(s.into())),
        1 => Just(WordPiece::Any),
        1 => Just(WordPiece::One),
    ];
    vec(piece, 1..4).prop_filter_map("word needs a piece", |pieces| {
        // Normalise as the parser does: no empty text, adjacent text merged.
        let mut out: Vec<WordPiece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (_, WordPiece::Text(t)) if t.is_empty() => {}
                (Some(WordPiece::Text(prev)), WordPiece::Text(t)) => prev.push_str(&t),
                (_, p) => out.push(p),
            }
        }
        (!out.is_empty()).then_some(SearchWord { pieces: out })
    })
}

fn search_term() -> impl Strategy<Value = SearchExpr> {
    let base = prop_oneof![
        3 => word().prop_map(SearchExpr::Word),
        1 => any::<String>().prop_map(SearchExpr::Phrase),
    ];
    base.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 2..4).prop_map(SearchExpr::And),
            vec(inner.clone(), 2..4).prop_map(SearchExpr::Or),
            (inner.clone(), inner).prop_map(|(l, r)| SearchExpr::AndNot(Box::new(l), Box::new(r))),
        ]
    })
}

fn search() -> impl Strategy<Value = Search> {
    let group = prop_oneof![
        Just(SearchGroup::All),
        Just(SearchGroup::Name),
        Just(SearchGroup::Email),
        Just(SearchGroup::Phone),
        Just(SearchGroup::Sidebar),
    ];
    let returning = (
        name(),
        vec(select_item(), 0..3),
        proptest::option::of(condition()),
        vec(order_item(), 0..2),
        proptest::option::of(0u64..1000),
        proptest::option::of(0u64..1000),
    )
        .prop_map(|(object, fields, filter, order_by, limit, offset)| {
            let mut r = Returning::new(object, fields);
            if !r.fields.is_empty() {
                r.filter = filter;
                r.order_by = order_by;
                r.limit = limit;
                r.offset = offset;
            }
            r
        });
    let with = prop_oneof![
        name().prop_map(|name| SearchWith {
            name,
            arg: SearchWithArg::None
        }),
        (name(), value()).prop_map(|(name, v)| SearchWith {
            name,
            arg: SearchWithArg::Eq(v)
        }),
        (name(), vec(value(), 1..3)).prop_map(|(name, v)| SearchWith {
            name,
            arg: SearchWithArg::In(v)
        }),
        (name(), vec((name(), value()), 1..3)).prop_map(|(name, p)| SearchWith {
            name,
            arg: SearchWithArg::Params(p)
        }),
        vec(category_filter(), 1..3).prop_map(|f| SearchWith {
            name: "DATA CATEGORY".into(),
            arg: SearchWithArg::DataCategory(f)
        }),
    ];
    (
        search_term(),
        proptest::option::of(group),
        vec(returning, 0..3),
        vec(with, 0..3),
        proptest::option::of(any::<u64>()),
        proptest::option::of(prop_oneof![
            Just(UpdateClause::Tracking),
            Just(UpdateClause::Viewstat)
        ]),
    )
        .prop_map(|(term, in_fields, returning, with, limit, update)| Search {
            term,
            in_fields,
            returning,
            with,
            limit,
            update,
        })
}

/// Valid queries to mutate.
const SEEDS: &[&str] = &[
    "SELECT Id, Name, Phone, Email, Account.Name, (SELECT Id, CaseNumber FROM Cases ORDER BY CreatedDate DESC LIMIT 3) FROM Contact WHERE Phone = '+15551234567' OR MobilePhone = '+15551234567' LIMIT 1",
    "SELECT LeadSource, COUNT(Name) cnt FROM Lead WHERE CreatedDate = LAST_N_DAYS:30 GROUP BY ROLLUP(LeadSource) HAVING COUNT(Name) > 1 ORDER BY LeadSource NULLS LAST",
    "SELECT TYPEOF What WHEN Account THEN Phone ELSE Name END FROM Event WHERE Id IN (SELECT WhatId FROM Task) AND Name LIKE 'a\\%b%' WITH SECURITY_ENFORCED",
    "SELECT Id FROM Account WHERE Amount > USD5000 AND CreatedDate > 2024-01-31T10:00:00.000+0000 AND Tags__c INCLUDES ('a;b') FOR VIEW UPDATE TRACKING",
    "FIND {\\+1555 OR \"John Smith\" AND NOT Jo*} IN PHONE FIELDS RETURNING Contact(Id, Name WHERE Email != null LIMIT 5), Lead WITH SNIPPET (target_length = 120) LIMIT 10",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let chars = "[(){}'\"\\\\:.,=<>!%_*?a-zA-Z0-9 \n-]{1,4}";
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![chars.boxed(), any::<String>().boxed()]
        )
            .prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), 1usize..30).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(src: &str, muts: &[Mutation]) -> String {
    let mut s = src.to_owned();
    for m in muts {
        let len = s.len().max(1);
        match m {
            Mutation::Delete(a, n) => {
                let a = floor_boundary(&s, a % len);
                let b = floor_boundary(&s, a + n);
                s.replace_range(a..b, "");
            }
            Mutation::Insert(a, t) => {
                let a = floor_boundary(&s, a % len);
                s.insert_str(a, t);
            }
            Mutation::Duplicate(a, n) => {
                let a = floor_boundary(&s, a % len);
                let b = floor_boundary(&s, a + n);
                let piece = s[a..b].to_owned();
                s.insert_str(b, &piece);
            }
            Mutation::Truncate(a) => {
                let a = floor_boundary(&s, a % len);
                s.truncate(a);
            }
        }
    }
    s
}

/// Parses `src` as SOQL or SOSL; whatever is accepted must print and parse back to itself.
fn check_accepted(src: &str) -> Result<(), TestCaseError> {
    if let Ok(q) = parse_query(src) {
        let printed = q.to_string();
        let again =
            parse_query(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(again, q, "{}", printed);
    }
    if let Ok(s) = parse_search(src) {
        let printed = s.to_string();
        let again =
            parse_search(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(again, s, "{}", printed);
    }
    let _ = parse_condition(src);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_queries_parse_back_to_the_same_tree(q in query()) {
        let printed = q.to_string();
        let parsed = parse_query(&printed).map_err(|e| TestCaseError::fail(format!("{printed}\n{e}")))?;
        prop_assert_eq!(&parsed, &q, "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn printed_searches_parse_back_to_the_same_tree(s in search()) {
        let printed = s.to_string();
        let parsed = parse_search(&printed).map_err(|e| TestCaseError::fail(format!("{printed}\n{e}")))?;
        prop_assert_eq!(&parsed, &s, "{}", printed);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(src in any::<String>()) {
        check_accepted(&src)?;
    }

    #[test]
    fn parser_never_panics_on_soql_shaped_text(src in "[ (){}'\"\\\\:.,=<>!%_*?a-zA-Z0-9\n-]{0,60}") {
        check_accepted(&src)?;
        check_accepted(&format!("SELECT Id FROM A WHERE {src}"))?;
        check_accepted(&format!("FIND {{{src}}}"))?;
    }

    #[test]
    fn parser_never_panics_on_mutated_queries(seed in 0..SEEDS.len(), muts in vec(mutation(), 1..6)) {
        check_accepted(&apply(SEEDS[seed], &muts))?;
    }

    #[test]
    fn like_match_never_panics_and_exact_patterns_match_themselves(text in any::<String>(), pat in any::<String>()) {
        let _ = like_match(&pat, &text);
        prop_assert!(like_match(LikePattern::exact(&text).as_str(), &text));
        let wrapped = format!("x{}y", text);
        prop_assert!(like_match(LikePattern::contains(&text).as_str(), &wrapped));
    }
}
