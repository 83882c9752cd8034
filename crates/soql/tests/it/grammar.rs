//! Grammar coverage: queries that parse (and survive print/parse), AST shapes, and errors.

use callforce_soql::*;

/// Queries in the shapes real clients and the Salesforce documentation use.
const ACCEPTED: &[&str] = &[
    "SELECT Id FROM Account",
    "select id, name from account",
    "SELECT Id, Name, Account.Name, Owner.Name, What.Name, Foo__r.Bar__c, Account.Owner.Profile.Name FROM Contact",
    "SELECT Id, (SELECT Id, CaseNumber FROM Cases WHERE Status != 'Closed' ORDER BY CreatedDate DESC LIMIT 3) FROM Contact",
    "SELECT Id, (SELECT Id FROM Contacts), (SELECT Id FROM Opportunities) FROM Account",
    "SELECT FIELDS(ALL) FROM Account LIMIT 200",
    "SELECT FIELDS(STANDARD), FIELDS(CUSTOM) FROM Contact LIMIT 200",
    "SELECT TYPEOF What WHEN Account THEN Phone, NumberOfEmployees WHEN Opportunity THEN Amount, CloseDate ELSE Name, Email END FROM Event",
    "SELECT TYPEOF Owner WHEN User THEN Username END FROM Case",
    "SELECT COUNT() FROM Contact",
    "SELECT COUNT(Id), COUNT_DISTINCT(AccountId) accounts, SUM(Amount) total, AVG(Amount), MIN(CloseDate), MAX(CloseDate) FROM Opportunity",
    "SELECT LeadSource, COUNT(Name) cnt FROM Lead GROUP BY LeadSource HAVING COUNT(Name) > 100",
    "SELECT LeadSource, Rating, COUNT(Id) FROM Lead GROUP BY ROLLUP(LeadSource, Rating)",
    "SELECT Type, BillingCountry, COUNT(Id) FROM Account GROUP BY CUBE(Type, BillingCountry)",
    "SELECT CALENDAR_YEAR(CreatedDate), SUM(Amount) FROM Opportunity GROUP BY CALENDAR_YEAR(CreatedDate)",
    "SELECT toLabel(Status), convertCurrency(Amount), FORMAT(MIN(CloseDate)) Amt FROM Opportunity",
    "SELECT Id FROM Account WHERE DISTANCE(Location__c, GEOLOCATION(37.775, -122.418), 'mi') < 20",
    "SELECT DAY_ONLY(CreatedDate) d, COUNT(Id) FROM Task GROUP BY DAY_ONLY(CreatedDate)",
    "SELECT Id FROM Contact c WHERE c.LastName = 'Smith'",
    "SELECT Id FROM Account USING SCOPE Mine",
    "SELECT Id FROM Account USING SCOPE Team WHERE Name != null",
    "SELECT Id FROM Account WHERE Name = 'Acme' AND (Type = 'Partner' OR Type = 'Customer')",
    "SELECT Id FROM Account WHERE NOT Name LIKE 'Test%'",
    "SELECT Id FROM Account WHERE (NOT Name LIKE 'Test%')",
    "SELECT Id FROM Account WHERE NOT (Name = 'a' OR Name = 'b')",
    "SELECT Id FROM Account WHERE ((Name = 'a'))",
    "SELECT Id FROM Account WHERE Amount__c = -12.50 AND Rank__c >= 3 AND Rank__c <= 10 AND Rank__c < 99 AND Rank__c > -1 AND Kind__c <> 'x'",
    "SELECT Id FROM Opportunity WHERE Amount > USD5000 AND Amount < EUR10.5",
    "SELECT Id FROM Account WHERE Name IN ('a', 'b', 'c') AND Type NOT IN ('x')",
    "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName LIKE 'apple%')",
    "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Opportunity WHERE IsClosed = false)",
    "SELECT Id FROM Contact WHERE Languages__c INCLUDES ('English;French', 'German') AND Skills__c EXCLUDES ('Java')",
    "SELECT Id FROM Account WHERE IsDeleted = true AND IsActive__c = FALSE AND Parent.Name = null",
    "SELECT Id FROM Account WHERE CreatedDate > 2024-01-31T10:00:00Z AND CreatedDate < 2024-02-01T10:00:00+01:00 AND LastModifiedDate = 2024-01-31T10:00:00.000+0000 AND CloseDate = 2024-01-31",
    "SELECT Id FROM Account WHERE CreatedDate = TODAY OR CreatedDate = YESTERDAY OR CreatedDate = TOMORROW",
    "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:10 AND CloseDate = NEXT_N_FISCAL_QUARTERS:2 AND LastActivityDate = N_WEEKS_AGO:3",
    "SELECT Id FROM Account WHERE CreatedDate = THIS_FISCAL_YEAR AND CreatedDate != LAST_90_DAYS",
    "SELECT Id FROM Contact WHERE AccountId = :acct.Id AND Name LIKE :pattern AND Id IN :ids",
    "SELECT Id FROM Account WITH SECURITY_ENFORCED",
    "SELECT Id FROM Account WHERE Name = 'x' WITH USER_MODE",
    "SELECT Id FROM Account WITH SYSTEM_MODE LIMIT 5",
    "SELECT Title FROM KnowledgeArticleVersion WHERE PublishStatus = 'online' WITH DATA CATEGORY Geography__c AT (usa__c, uk__c) AND Product__c ABOVE_OR_BELOW mobile_phones__c",
    "SELECT Title FROM Question WHERE LastReplyDate > 2005-10-08T01:02:03Z WITH DATA CATEGORY Geography__c ABOVE usa__c",
    "SELECT Name FROM Account ORDER BY Name DESC NULLS LAST, CreatedDate ASC NULLS FIRST, Id",
    "SELECT Name FROM Account ORDER BY Name LIMIT 10 OFFSET 20",
    "SELECT Id FROM Account LIMIT 1 FOR VIEW",
    "SELECT Id FROM Account FOR REFERENCE",
    "SELECT Id FROM Account LIMIT 1 FOR UPDATE",
    "SELECT Title FROM FAQ__kav WHERE Keyword = 'Apex' UPDATE TRACKING",
    "SELECT Title FROM FAQ__kav UPDATE VIEWSTAT",
    "SELECT Id FROM Group WHERE Type = 'Queue'",
    "SELECT Id FROM Order",
    "SELECT Name FROM Account WHERE Name LIKE 'It\\'s 50\\% \\_ \\\\ \\u00e9%'",
    "SELECT Id\n  FROM Account\n WHERE Name = 'multi line'",
];

#[test]
fn accepted_queries_parse_and_print_stably() {
    for src in ACCEPTED {
        let q = parse_query(src).unwrap_or_else(|e| panic!("{src}\n{e}"));
        let printed = q.to_string();
        let again = parse_query(&printed).unwrap_or_else(|e| panic!("{printed}\n{e}"));
        assert_eq!(again, q, "{src}\nprinted: {printed}");
        assert_eq!(again.to_string(), printed);
    }
}

fn where_of(src: &str) -> Condition {
    parse_query(src).unwrap().filter.expect("a WHERE clause")
}

fn field(path: &[&str]) -> Expr {
    Expr::Field(FieldPath::new(path.iter().copied()))
}

#[test]
fn agent_query_has_the_expected_tree() {
    let q = parse_query(
        "SELECT Id, Name, Phone, Email, Account.Name, (SELECT Id, CaseNumber, Subject, Status FROM Cases \
         ORDER BY CreatedDate DESC LIMIT 3) FROM Contact WHERE Phone = '+15551234567' OR MobilePhone = '+15551234567' LIMIT 1",
    )
    .unwrap();
    assert_eq!(q.select.len(), 6);
    assert_eq!(q.select[4], SelectItem::field(["Account", "Name"]));
    let SelectItem::Subquery(sub) = &q.select[5] else {
        panic!("child subquery expected");
    };
    assert_eq!(sub.from.object, "Cases");
    assert_eq!(sub.limit, Some(3));
    assert!(sub.order_by[0].is_descending());
    assert!(!sub.order_by[0].nulls_first());
    let phone = Value::String("+15551234567".into());
    assert_eq!(
        q.filter,
        Some(Condition::Or(vec![
            Condition::Compare {
                lhs: field(&["Phone"]),
                op: CompareOp::Eq,
                value: phone.clone()
            },
            Condition::Compare {
                lhs: field(&["MobilePhone"]),
                op: CompareOp::Eq,
                value: phone
            },
        ]))
    );
    assert_eq!(q.limit, Some(1));
    assert!(!q.is_aggregate());
}

#[test]
fn keywords_are_case_insensitive_and_names_keep_their_spelling() {
    let q = parse_query(
        "sElEcT aCCount.NaMe FrOm cOnTaCt wHeRe iD != NULL oRdEr By NaMe dEsC nUlLs FiRsT",
    )
    .unwrap();
    assert_eq!(q.select[0], SelectItem::field(["aCCount", "NaMe"]));
    assert_eq!(q.from.object, "cOnTaCt");
    assert_eq!(
        q.filter,
        Some(Condition::Compare {
            lhs: field(&["iD"]),
            op: CompareOp::Ne,
            value: Value::Null
        })
    );
    assert_eq!(q.order_by[0].nulls, Some(Nulls::First));
}

#[test]
fn literal_kinds_stay_distinct() {
    let dt = chrono::DateTime::parse_from_rfc3339("2024-01-31T10:00:00+01:00").unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("null", Value::Null),
        ("TRUE", Value::Boolean(true)),
        ("false", Value::Boolean(false)),
        ("42", Value::Number(Number::parse("42").unwrap())),
        ("-0.5", Value::Number(Number::parse("-0.5").unwrap())),
        (
            "USD5000",
            Value::Currency {
                code: "USD".into(),
                amount: Number::parse("5000").unwrap(),
            },
        ),
        ("'2024-01-31'", Value::String("2024-01-31".into())),
        ("'a\\\\b'", Value::String("a\\b".into())),
        ("'50\\%'", Value::String("50\\%".into())),
        (
            "2024-01-31",
            Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
        ),
        ("2024-01-31T10:00:00+01:00", Value::DateTime(dt)),
        ("TODAY", Value::DateLiteral(DateLiteral::Today)),
        (
            "last_n_days:7",
            Value::DateLiteral(DateLiteral::LastN(Unit::Days, 7)),
        ),
        (
            "NEXT_FISCAL_QUARTER",
            Value::DateLiteral(DateLiteral::Next(Period::FiscalQuarter)),
        ),
        (":myVar", Value::Bind("myVar".into())),
    ];
    for (text, want) in cases {
        let c = parse_condition(&format!("F = {text}")).unwrap_or_else(|e| panic!("{text}: {e}"));
        let Condition::Compare { value, .. } = c else {
            panic!("{text}: not a comparison");
        };
        assert_eq!(value, want, "{text}");
    }
}

#[test]
fn like_patterns_keep_escaped_wildcards_distinct() {
    let cases: &[(&str, &str, &str, bool)] = &[
        (r"'Ter\%'", r"Ter\%", "Ter%", true),
        (r"'Ter\%'", r"Ter\%", "Terrible", false),
        (r"'Ter\%%'", r"Ter\%%", "Ter% off", true),
        (r"'a\_b'", r"a\_b", "a_b", true),
        (r"'a_b'", "a_b", "axb", true),
        (r"'x\\y%'", r"x\\y%", r"x\yz", true),
        (r"'it\'s%'", "it's%", "It's here", true),
    ];
    for (lit, escaped, text, want) in cases {
        let c = parse_condition(&format!("Name LIKE {lit}")).unwrap();
        let Condition::Like {
            pattern: LikeValue::Pattern(p),
            ..
        } = c
        else {
            panic!("{lit}");
        };
        assert_eq!(p.as_str(), *escaped, "{lit}");
        assert_eq!(like_match(p.as_str(), text), *want, "{lit} ~ {text}");
    }
}

#[test]
fn semi_join_and_condition_shapes() {
    let c = where_of(
        "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact WHERE Email = null) AND Name != 'x'",
    );
    let Condition::And(items) = c else {
        panic!("AND expected")
    };
    let Condition::InQuery { negated, query, .. } = &items[0] else {
        panic!("semi-join expected")
    };
    assert!(*negated);
    assert_eq!(query.from.object, "Contact");

    let c = where_of("SELECT Id FROM Account WHERE (A = 1 AND B = 2) AND C = 3");
    let Condition::And(items) = c else {
        panic!("AND expected")
    };
    assert!(
        matches!(items[0], Condition::And(_)),
        "parentheses shape the tree"
    );

    let c = where_of("SELECT Id FROM Account WHERE NOT NOT A = 1");
    assert!(matches!(c, Condition::Not(ref inner) if matches!(**inner, Condition::Not(_))));
}

#[test]
fn aggregate_helpers() {
    let q = parse_query("SELECT COUNT() FROM Contact").unwrap();
    assert!(q.is_count_only());
    assert!(!q.is_aggregate());
    let q = parse_query("SELECT count(Id) n FROM Contact").unwrap();
    assert!(q.is_aggregate());
    let SelectItem::Expr {
        expr: Expr::Call(call),
        alias,
    } = &q.select[0]
    else {
        panic!()
    };
    assert_eq!(call.aggregate(), Some(Aggregate::Count));
    assert_eq!(alias.as_deref(), Some("n"));
    let q = parse_query("SELECT toLabel(Status) FROM Case").unwrap();
    assert!(!q.is_aggregate());
}

/// Errors: (query, kind, 1-based column).
#[test]
fn errors_carry_kind_and_position() {
    let tok = |s: &str| ErrorKind::UnexpectedToken { found: s.into() };
    let cases: Vec<(&str, ErrorKind, usize)> = vec![
        ("", tok("<EOF>"), 1),
        ("SELECT", tok("<EOF>"), 7),
        ("SELECT Id", tok("<EOF>"), 10),
        ("SELECT Id FROM", tok("<EOF>"), 15),
        ("SELECT Id FROM Account WHERE", tok("<EOF>"), 29),
        ("SELECT Id Name Phone FROM Account", tok("Phone"), 16),
        ("SELECT Id FROM Account WHERE Name = ", tok("<EOF>"), 37),
        ("SELECT Id FROM Account WHERE Name == 'x'", tok("="), 36),
        (
            "SELECT Id FROM Account WHERE A = 1 AND B = 2 OR C = 3",
            tok("OR"),
            46,
        ),
        (
            "SELECT Id FROM Account WHERE A = 1 OR B = 2 AND C = 3",
            tok("AND"),
            45,
        ),
        ("SELECT Id FROM Account LIMIT -1", tok("-1"), 30),
        ("SELECT Id FROM Account LIMIT 1.5", tok("1.5"), 30),
        ("SELECT Id FROM Account ORDER Name", tok("Name"), 30),
        ("SELECT Id FROM Account WHERE Name LIKE 5", tok("5"), 40),
        (
            "SELECT Id FROM Account WHERE Name NOT LIKE 'x'",
            tok("NOT"),
            35,
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'x' garbage",
            tok("garbage"),
            41,
        ),
        ("SELECT Id FROM Account WHERE Name IN ()", tok(")"), 39),
        (
            "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS",
            ErrorKind::MissingDateLiteralArgument {
                name: "LAST_N_DAYS".into(),
            },
            44,
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a\\qb'",
            ErrorKind::InvalidEscape { found: 'q' },
            39,
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'open",
            ErrorKind::UnterminatedString,
            37,
        ),
        (
            "SELECT Id FROM Account WHERE Name = \"x\"",
            ErrorKind::UnexpectedChar { found: '"' },
            37,
        ),
        (
            "SELECT Id FROM Account WHERE D = 2024-13-01",
            ErrorKind::InvalidDate {
                text: "2024-13-01".into(),
            },
            34,
        ),
        ("SELECT Id FROM Account WITH FOO", tok("FOO"), 29),
        ("SELECT Id FROM Account FOR DELETE", tok("DELETE"), 28),
        (
            "SELECT (SELECT Id FROM Contacts FROM Account",
            tok("FROM"),
            33,
        ),
        ("SELECT FROM Account", tok("FROM"), 8),
        ("SELECT Id, FROM Account", tok("FROM"), 12),
        ("DELETE FROM Account", tok("DELETE"), 1),
    ];
    for (src, kind, column) in cases {
        let err = parse_query(src).expect_err(src);
        assert_eq!(err.kind, kind, "{src}");
        assert_eq!(err.position.column, column, "{src}");
        assert_eq!(err.position.row, 1, "{src}");
    }
    let err = parse_query("SELECT Id\nFROM Account\nWHERE Name = = 'x'").unwrap_err();
    assert_eq!((err.position.row, err.position.column), (3, 14));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 10_000;
    let cases = [
        format!(
            "SELECT Id FROM A WHERE {}A = 1{}",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
        format!("SELECT Id FROM A WHERE {}A = 1", "NOT ".repeat(depth)),
        format!(
            "SELECT {}Id{} FROM A",
            "f(".repeat(depth),
            ")".repeat(depth)
        ),
        format!(
            "SELECT Id FROM A WHERE Id IN {}",
            "(SELECT Id FROM A WHERE Id IN ".repeat(depth)
        ),
        format!("SELECT {} FROM A", "(SELECT ".repeat(depth)),
        format!("FIND {{{}a{}}}", "(".repeat(depth), ")".repeat(depth)),
    ];
    for src in &cases {
        let err = if src.starts_with("FIND") {
            parse_search(src).unwrap_err()
        } else {
            parse_query(src).unwrap_err()
        };
        assert_eq!(err.kind, ErrorKind::TooDeep, "{}", &src[..40]);
    }
    // Up to the limit is fine.
    let ok = format!(
        "SELECT Id FROM A WHERE {}A = 1{}",
        "(".repeat(50),
        ")".repeat(50)
    );
    assert!(parse_query(&ok).is_ok());
}

#[test]
fn salesforce_message_for_malformed_query() {
    let src = "SELECT Id FROM Account WHERE Name = 'x' garbage";
    let err = parse_query(src).unwrap_err();
    assert_eq!(err.error_code(), "MALFORMED_QUERY");
    assert_eq!(
        err.salesforce_message(src),
        format!(
            "\n{src}\n{}^\nERROR at Row:1:Column:41\nunexpected token: 'garbage'",
            " ".repeat(40)
        )
    );
}

const ACCEPTED_SOSL: &[&str] = &[
    "FIND {Acme}",
    "find {acme*} in name fields",
    "FIND {+15551234567} IN PHONE FIELDS RETURNING Contact(Id, Name, Account.Name), Lead(Id, Name)",
    "FIND {\\+1 \\(555\\) 123\\-4567} IN PHONE FIELDS RETURNING Contact(Id)",
    "FIND {john@acme.com} IN EMAIL FIELDS RETURNING Contact(Id WHERE IsDeleted = false ORDER BY Name DESC LIMIT 5 OFFSET 1), Lead",
    "FIND {\"John Smith\" OR Jon*} IN ALL FIELDS RETURNING Contact(Id) LIMIT 20",
    "FIND {Acme AND NOT Corp} IN SIDEBAR FIELDS",
    "FIND {(a OR b) AND c}",
    "FIND {Acme} RETURNING Account(Id, toLabel(Type)) WITH DIVISION = 'Global' WITH HIGHLIGHT WITH SNIPPET (target_length = 120) WITH SPELL_CORRECTION = false WITH NETWORK IN ('0DB1', '0DB2') WITH METADATA = 'LABELS' LIMIT 10",
    "FIND {tax} RETURNING KnowledgeArticleVersion(Id) WITH DATA CATEGORY Geography__c AT usa__c UPDATE TRACKING",
    "FIND 'Acme Corp' IN NAME FIELDS RETURNING Account",
    "FIND 'it\\'s' RETURNING Account(Id)",
];

#[test]
fn accepted_searches_parse_and_print_stably() {
    for src in ACCEPTED_SOSL {
        let s = parse_search(src).unwrap_or_else(|e| panic!("{src}\n{e}"));
        let printed = s.to_string();
        let again = parse_search(&printed).unwrap_or_else(|e| panic!("{printed}\n{e}"));
        assert_eq!(again, s, "{src}\nprinted: {printed}");
        assert_eq!(again.to_string(), printed);
    }
}

#[test]
fn search_tree_for_a_phone_lookup() {
    let s = parse_search(
        "FIND {\\+15551234567} IN PHONE FIELDS RETURNING Contact(Id, Name WHERE IsDeleted = false LIMIT 5), Lead",
    )
    .unwrap();
    assert_eq!(
        s.term,
        SearchExpr::Word(SearchWord::literal("+15551234567"))
    );
    assert_eq!(s.in_fields, Some(SearchGroup::Phone));
    assert_eq!(s.returning.len(), 2);
    assert_eq!(s.returning[0].object, "Contact");
    assert_eq!(s.returning[0].limit, Some(5));
    assert!(s.returning[0].filter.is_some());
    assert_eq!(s.returning[1], Returning::new("Lead", vec![]));
}

#[test]
fn search_errors() {
    let tok = |s: &str| ErrorKind::UnexpectedToken { found: s.into() };
    let cases: Vec<(&str, ErrorKind, usize)> = vec![
        ("FIND Acme", ErrorKind::MissingSearchTerm, 6),
        ("FIND", ErrorKind::MissingSearchTerm, 5),
        ("FIND \"Acme\"", ErrorKind::MissingSearchTerm, 6),
        ("FIND {Acme", ErrorKind::UnterminatedSearchTerm, 6),
        ("FIND {}", ErrorKind::EmptySearchTerm, 7),
        ("FIND {\"open}", ErrorKind::UnterminatedSearchTerm, 7),
        ("FIND {a OR}", tok("<EOF>"), 11),
        ("FIND 'open", ErrorKind::UnterminatedSearchTerm, 6),
        ("SEARCH {x}", tok("SEARCH"), 1),
        ("FINDX {x}", tok("FINDX"), 1),
        ("FIND {x} IN BOGUS FIELDS", tok("BOGUS"), 13),
        ("FIND {x} RETURNING", tok("<EOF>"), 19),
        ("FIND {x} RETURNING Contact(Id", tok("<EOF>"), 30),
        ("FIND {x} extra", tok("extra"), 10),
    ];
    for (src, kind, column) in cases {
        let err = parse_search(src).expect_err(src);
        assert_eq!(err.kind, kind, "{src}");
        assert_eq!(err.position.column, column, "{src}");
    }
    let err = parse_search("FIND Acme").unwrap_err();
    assert_eq!(err.error_code(), "MALFORMED_SEARCH");
    assert_eq!(
        err.salesforce_message("FIND Acme"),
        "No search term found. The search term must be enclosed in braces."
    );
}
