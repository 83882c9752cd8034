//! The query engine over HTTP: result shapes, paging, errors, SOSL.

use callforce_devorg::{Config, DevOrg, Running, Seed};
use serde_json::{Value, json};

use crate::harness::{base, http, spawn, spawn_with, token};

struct Org {
    r: Running,
    token: String,
}

impl Org {
    async fn demo() -> Self {
        let r = spawn().await;
        let token = token(&r).await;
        Self { r, token }
    }

    async fn empty() -> Self {
        let r = spawn_with(Config {
            seed: Seed::None,
            ..Config::default()
        })
        .await;
        let token = token(&r).await;
        Self { r, token }
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let resp = http()
            .get(format!("{}/services/data/v59.0/{path}", base(&self.r)))
            .query(params)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json body"))
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        self.get("query", &[("q", soql)]).await
    }

    async fn ok(&self, soql: &str) -> Value {
        let (status, body) = self.query(soql).await;
        assert_eq!(status, 200, "{soql}: {body}");
        body
    }

    async fn error(&self, soql: &str) -> (String, String) {
        let (status, body) = self.query(soql).await;
        assert_eq!(status, 400, "{soql}: {body}");
        (
            body[0]["errorCode"].as_str().unwrap_or("").to_owned(),
            body[0]["message"].as_str().unwrap_or("").to_owned(),
        )
    }

    /// Creates records straight in the store (fast set-up for big results).
    fn insert(&self, object: &str, records: impl IntoIterator<Item = Value>) -> Vec<String> {
        insert(&self.r.org, object, records)
    }
}

fn insert(org: &DevOrg, object: &str, records: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut txn = org.store().write();
    let table = txn.data().table_index(object).expect("object exists");
    let ids = records
        .into_iter()
        .map(|r| {
            txn.create(table, r.as_object().expect("object"))
                .expect("valid record")
                .to_string()
        })
        .collect();
    txn.commit().expect("commit");
    ids
}

#[tokio::test]
async fn caller_lookup_nests_parent_and_child_records() {
    let org = Org::demo().await;
    let body = org
        .ok("SELECT Id, Name, Account.Name, (SELECT CaseNumber FROM Cases ORDER BY CaseNumber DESC LIMIT 2) \
             FROM Contact WHERE Phone = '(555) 123-4567' OR MobilePhone = '(555) 123-4567'")
        .await;
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["done"], true);
    let rec = &body["records"][0];
    assert_eq!(rec["Name"], "Sarah Johnson");
    assert_eq!(rec["attributes"]["type"], "Contact");
    let id = rec["Id"].as_str().expect("id");
    assert_eq!(
        rec["attributes"]["url"],
        format!("/services/data/v59.0/sobjects/Contact/{id}")
    );
    assert_eq!(rec["Account"]["Name"], "Acme Corporation");
    assert_eq!(rec["Account"]["attributes"]["type"], "Account");
    let cases = &rec["Cases"];
    assert_eq!(cases["done"], true);
    assert_eq!(cases["records"].as_array().map(Vec::len), Some(2));
    let n0 = cases["records"][0]["CaseNumber"]
        .as_str()
        .expect("case number");
    let n1 = cases["records"][1]["CaseNumber"]
        .as_str()
        .expect("case number");
    assert!(n0 > n1, "ordered DESC: {n0} then {n1}");
    // Keys come in select order after attributes.
    let keys: Vec<&str> = rec
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["attributes", "Id", "Name", "Account", "Cases"]);
}

#[tokio::test]
async fn empty_lookup_and_empty_children_are_null() {
    let org = Org::empty().await;
    org.insert("Contact", [json!({"LastName": "Orphan"})]);
    let body = org
        .ok("SELECT Account.Name, (SELECT Id FROM Cases) FROM Contact")
        .await;
    assert_eq!(body["records"][0]["Account"], Value::Null);
    assert_eq!(body["records"][0]["Cases"], Value::Null);
    let body = org
        .ok("SELECT Id FROM Contact WHERE LastName = 'nobody'")
        .await;
    assert_eq!(body, json!({"totalSize": 0, "done": true, "records": []}));
}

#[tokio::test]
async fn phone_equality_is_exact_in_soql_but_sosl_matches_any_format() {
    let org = Org::demo().await;
    let body = org
        .ok("SELECT Id FROM Contact WHERE Phone = '+15551234567'")
        .await;
    assert_eq!(
        body["totalSize"], 0,
        "SOQL = compares the stored text, as Salesforce does"
    );
    for term in ["5551234567", "\"+1 (555) 123-4567\"", "\"555-123-4567\""] {
        let (status, body) = org
            .get(
                "search",
                &[(
                    "q",
                    &format!("FIND {{{term}}} IN PHONE FIELDS RETURNING Contact(Name)"),
                )],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["searchRecords"][0]["Name"], "Sarah Johnson",
            "term {term}: {body}"
        );
    }
}

#[tokio::test]
async fn paging_follows_locators_for_query_and_query_all() {
    let org = Org::empty().await;
    org.insert(
        "Contact",
        (0..4500).map(|i| json!({"LastName": format!("Bulk {i:05}")})),
    );
    let deleted = org.insert("Contact", [json!({"LastName": "Bulk gone"})]);
    let (status, _) = {
        let resp = http()
            .delete(format!(
                "{}/services/data/v59.0/sobjects/Contact/{}",
                base(&org.r),
                deleted[0]
            ))
            .bearer_auth(&org.token)
            .send()
            .await
            .expect("delete");
        (resp.status().as_u16(), ())
    };
    assert_eq!(status, 204);

    for (path, expected) in [("query", 4500), ("queryAll", 4501)] {
        let (status, mut page) = org
            .get(
                path,
                &[("q", "SELECT Id, LastName FROM Contact ORDER BY LastName")],
            )
            .await;
        assert_eq!(status, 200);
        let mut seen = Vec::new();
        loop {
            assert_eq!(page["totalSize"], expected);
            seen.extend(
                page["records"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .map(|r| r["LastName"].clone()),
            );
            if page["done"] == true {
                assert!(page.get("nextRecordsUrl").is_none());
                break;
            }
            let next = page["nextRecordsUrl"]
                .as_str()
                .expect("next url")
                .to_owned();
            assert!(next.starts_with("/services/data/v59.0/query/01g"), "{next}");
            let resp = http()
                .get(format!("{}{next}", base(&org.r)))
                .bearer_auth(&org.token)
                .send()
                .await
                .expect("next");
            assert_eq!(resp.status(), 200);
            page = resp.json().await.expect("json");
        }
        assert_eq!(seen.len(), expected, "{path}");
        assert_eq!(seen[0], "Bulk 00000");
        assert_eq!(
            seen[2000], "Bulk 02000",
            "second page starts where the first ended"
        );
    }
}

#[tokio::test]
async fn batch_size_header_sets_the_page() {
    let org = Org::empty().await;
    org.insert(
        "Account",
        (0..450).map(|i| json!({"Name": format!("A{i}")})),
    );
    let resp = http()
        .get(format!("{}/services/data/v59.0/query", base(&org.r)))
        .query(&[("q", "SELECT Id FROM Account")])
        .header("Sforce-Query-Options", "batchSize=200")
        .bearer_auth(&org.token)
        .send()
        .await
        .expect("query");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["records"].as_array().map(Vec::len), Some(200));
    assert!(
        body["nextRecordsUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with("-200"))
    );
}

#[tokio::test]
async fn bad_locator_is_invalid_query_locator() {
    let org = Org::demo().await;
    for loc in ["nonsense", "01g0D0000000009AAA-2000"] {
        let (status, body) = org.get(&format!("query/{loc}"), &[]).await;
        assert_eq!(status, 400);
        assert_eq!(body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
    }
}

#[tokio::test]
async fn filters_operators_and_literals() {
    let org = Org::empty().await;
    let acct = org.insert(
        "Account",
        [json!({"Name": "O'Brien & Sons", "AnnualRevenue": 5000000, "Industry": "Energy"})],
    );
    org.insert(
        "Contact",
        [
            json!({"LastName": "Alpha", "AccountId": acct[0], "Email": "alpha@example.com", "Birthdate": "1990-05-01"}),
            json!({"LastName": "Beta", "Email": "beta@example.com"}),
            json!({"LastName": "Gamma_x"}),
        ],
    );
    let count = |b: &Value| b["totalSize"].as_u64().unwrap_or(u64::MAX);
    let cases: &[(&str, u64)] = &[
        ("SELECT Id FROM Account WHERE Name = 'o\\'brien & sons'", 1),
        ("SELECT Id FROM Account WHERE Name LIKE 'O\\'Bri%'", 1),
        ("SELECT Id FROM Contact WHERE LastName LIKE '%a'", 2),
        ("SELECT Id FROM Contact WHERE LastName LIKE 'Gamma\\_%'", 1),
        ("SELECT Id FROM Contact WHERE LastName LIKE 'Gamma\\%'", 0),
        ("SELECT Id FROM Contact WHERE Email = null", 1),
        ("SELECT Id FROM Contact WHERE Email != null", 2),
        (
            "SELECT Id FROM Contact WHERE LastName IN ('alpha', 'BETA')",
            2,
        ),
        ("SELECT Id FROM Contact WHERE LastName NOT IN ('alpha')", 2),
        ("SELECT Id FROM Contact WHERE NOT (LastName = 'Alpha')", 2),
        (
            "SELECT Id FROM Contact WHERE Account.Industry = 'Energy'",
            1,
        ),
        ("SELECT Id FROM Contact WHERE Birthdate < 2000-01-01", 1),
        ("SELECT Id FROM Contact WHERE CreatedDate = TODAY", 3),
        (
            "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:3",
            3,
        ),
        ("SELECT Id FROM Contact WHERE CreatedDate > TODAY", 0),
        (
            "SELECT Id FROM Contact WHERE CreatedDate < 2000-01-01T00:00:00Z",
            0,
        ),
        ("SELECT Id FROM Account WHERE AnnualRevenue >= 5000000", 1),
        ("SELECT Id FROM Account WHERE AnnualRevenue > 5000000", 0),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Alpha')",
            1,
        ),
        (
            "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)",
            0,
        ),
        (
            &format!(
                "SELECT Id FROM Contact WHERE AccountId = '{}'",
                &acct[0][..15]
            ),
            1,
        ),
    ];
    for (soql, want) in cases {
        let body = org.ok(soql).await;
        assert_eq!(count(&body), *want, "{soql}: {body}");
    }
}

#[tokio::test]
async fn order_limit_offset_and_nulls() {
    let org = Org::empty().await;
    org.insert(
        "Contact",
        [
            json!({"LastName": "b", "Title": "x"}),
            json!({"LastName": "A"}),
            json!({"LastName": "c", "Title": "y"}),
        ],
    );
    let names = |b: &Value| -> Vec<String> {
        b["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["LastName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        names(
            &org.ok("SELECT LastName FROM Contact ORDER BY LastName")
                .await
        ),
        ["A", "b", "c"]
    );
    assert_eq!(
        names(
            &org.ok("SELECT LastName FROM Contact ORDER BY LastName DESC LIMIT 2")
                .await
        ),
        ["c", "b"]
    );
    assert_eq!(
        names(
            &org.ok("SELECT LastName FROM Contact ORDER BY LastName LIMIT 1 OFFSET 1")
                .await
        ),
        ["b"]
    );
    assert_eq!(
        names(
            &org.ok("SELECT LastName FROM Contact ORDER BY Title NULLS LAST")
                .await
        ),
        ["b", "c", "A"]
    );
    assert_eq!(
        names(&org.ok("SELECT LastName FROM Contact ORDER BY Title").await)[0],
        "A",
        "nulls first by default"
    );
}

#[tokio::test]
async fn aggregates_and_count() {
    let org = Org::demo().await;
    let body = org.ok("SELECT COUNT() FROM Opportunity").await;
    assert_eq!(body["records"], json!([]));
    let total = body["totalSize"].as_u64().expect("count");
    assert!(total >= 10);
    let body = org.ok("SELECT StageName, COUNT(Id) n, MAX(Amount) FROM Opportunity GROUP BY StageName HAVING COUNT(Id) > 0 ORDER BY StageName").await;
    let rows = body["records"].as_array().expect("rows");
    assert!(rows.len() >= 10, "every stage: {body}");
    assert_eq!(rows[0]["attributes"], json!({"type": "AggregateResult"}));
    let sum: u64 = rows.iter().map(|r| r["n"].as_u64().unwrap_or(0)).sum();
    assert_eq!(sum, total);
    assert!(
        rows[0].get("expr0").is_some(),
        "unaliased aggregate is expr0: {}",
        rows[0]
    );
    let body = org
        .ok("SELECT COUNT(Id), COUNT_DISTINCT(StageName) FROM Opportunity")
        .await;
    assert_eq!(body["records"][0]["expr0"], total);
    assert!(
        body["records"][0]["expr1"]
            .as_u64()
            .is_some_and(|n| n >= 10)
    );
}

#[tokio::test]
async fn errors_as_salesforce_words_them() {
    let org = Org::demo().await;
    let cases = [
        (
            "SELECT Nope FROM Contact",
            "INVALID_FIELD",
            "No such column 'Nope' on entity 'Contact'",
        ),
        (
            "SELECT Id FROM Nope",
            "INVALID_TYPE",
            "sObject type 'Nope' is not supported",
        ),
        (
            "SELECT Id FROM Contact WHERE",
            "MALFORMED_QUERY",
            "unexpected token: '<EOF>'",
        ),
        (
            "SELECT Nope.Name FROM Contact",
            "INVALID_FIELD",
            "Didn't understand relationship 'Nope'",
        ),
        (
            "SELECT Id, (SELECT Id FROM Nopes) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Nopes'",
        ),
        (
            "SELECT FIELDS(ALL) FROM Contact",
            "MALFORMED_QUERY",
            "LIMIT of at most 200",
        ),
        (
            "SELECT Id FROM Contact WHERE CreatedDate = 2024-01-01",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type datetime",
        ),
        (
            "SELECT Id FROM Contact WHERE AccountId = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: abc",
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue = '5'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type double",
        ),
        (
            "SELECT TYPEOF What WHEN Account THEN Name END FROM Task",
            "MALFORMED_QUERY",
            "TYPEOF",
        ),
    ];
    for (soql, code, text) in cases {
        let (c, m) = org.error(soql).await;
        assert_eq!(c, code, "{soql}: {m}");
        assert!(m.contains(text), "{soql}: {m}");
        assert!(m.contains("ERROR at Row:1:Column:"), "{soql}: {m}");
    }
    let (status, body) = org.get("query", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn content_document_links_are_queried_by_an_id_only() {
    let org = Org::empty().await;
    let acct = org
        .insert("Account", [json!({"Name": "Linked Ltd"})])
        .remove(0);
    let note = org
        .insert("ContentNote", [json!({"Title": "Callback"})])
        .remove(0);
    org.insert(
        "ContentDocumentLink",
        [json!({"ContentDocumentId": note, "LinkedEntityId": acct, "ShareType": "V"})],
    );
    for soql in [
        "SELECT Id FROM ContentDocumentLink",
        "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V'",
        "SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId != null",
        "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V' OR LinkedEntityId = '001000000000001AAA'",
    ] {
        let (code, message) = org.error(soql).await;
        assert_eq!(code, "MALFORMED_QUERY", "{soql}");
        assert!(
            message
                .starts_with("Implementation restriction: ContentDocumentLink requires a filter"),
            "{soql}: {message}"
        );
    }
    for soql in [
        format!("SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{acct}'"),
        format!("SELECT Id FROM ContentDocumentLink l WHERE l.ContentDocumentId IN ('{note}')"),
        format!(
            "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V' AND LinkedEntityId = '{acct}' \
             AND ContentDocumentId IN ('{note}')"
        ),
        "SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId IN (SELECT Id FROM Account)"
            .to_owned(),
    ] {
        assert_eq!(org.ok(&soql).await["totalSize"], 1, "{soql}");
    }
    // A child subquery from the linked record needs no filter.
    let body = org
        .ok("SELECT Id, (SELECT Id FROM ContentDocumentLinks) FROM Account")
        .await;
    assert_eq!(body["records"][0]["ContentDocumentLinks"]["totalSize"], 1);
}

#[tokio::test]
async fn fields_all_and_tolabel() {
    let org = Org::demo().await;
    let body = org.ok("SELECT FIELDS(ALL) FROM Account LIMIT 1").await;
    let rec = body["records"][0].as_object().expect("record");
    assert!(
        rec.contains_key("Name")
            && rec.contains_key("External_Id__c")
            && rec.contains_key("BillingAddress")
    );
    let body = org.ok("SELECT FIELDS(STANDARD) FROM Account").await;
    assert!(
        !body["records"][0]
            .as_object()
            .expect("record")
            .contains_key("External_Id__c")
    );
}

#[tokio::test]
async fn sosl_search_and_parameterized_search() {
    let org = Org::demo().await;
    let (status, body) = org
        .get(
            "search",
            &[(
                "q",
                "FIND {Sarah Johnson} RETURNING Contact(Name, Email), Lead(Name)",
            )],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["searchRecords"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["Name"].as_str())
        .collect();
    // The demo org has two contacts of that name (one at Acme, one at a partner firm).
    assert_eq!(names, ["Sarah Johnson", "Sarah Johnson"]);
    assert_eq!(body["searchRecords"][0]["attributes"]["type"], "Contact");

    let (status, body) = org.get("search", &[("q", "FIND {Acme}")]).await;
    assert_eq!(status, 200);
    assert!(
        body["searchRecords"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["attributes"]["type"] == "Account"))
    );

    let (status, body) = org.get("search", &[("q", "FIND Acme")]).await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "MALFORMED_SEARCH");
    assert_eq!(
        body[0]["message"],
        "No search term found. The search term must be enclosed in braces."
    );

    let (status, body) = org
        .get(
            "parameterizedSearch",
            &[
                ("q", "Acme"),
                ("sobject", "Account"),
                ("Account.fields", "Id,Name"),
                ("Account.limit", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["searchRecords"].as_array().map(Vec::len), Some(1));
    assert!(
        body["searchRecords"][0]["Name"]
            .as_str()
            .is_some_and(|n| n.contains("Acme"))
    );

    let resp = http()
        .post(format!("{}/services/data/v59.0/parameterizedSearch", base(&org.r)))
        .bearer_auth(&org.token)
        .json(&json!({"q": "Sarah", "fields": ["Id", "Name"], "sobjects": [{"name": "Contact"}], "in": "NAME"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["searchRecords"][0]["Name"], "Sarah Johnson");
}

#[tokio::test]
async fn hostile_terms_never_change_the_query() {
    // The dev org answers; the point is that a quote inside a literal is data, not syntax.
    let org = Org::empty().await;
    org.insert(
        "Contact",
        [
            json!({"LastName": "x' OR LastName != 'y"}),
            json!({"LastName": "z"}),
        ],
    );
    let body = org
        .ok("SELECT Id FROM Contact WHERE LastName = 'x\\' OR LastName != \\'y'")
        .await;
    assert_eq!(body["totalSize"], 1);
}

#[tokio::test]
async fn composite_query_subrequest_sees_earlier_writes() {
    let org = Org::empty().await;
    let resp = http()
        .post(format!("{}/services/data/v59.0/composite", base(&org.r)))
        .bearer_auth(&org.token)
        .json(&json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acct", "body": {"Name": "Composite Co"}},
            {"method": "GET", "url": "/services/data/v59.0/query?q=SELECT+Id,Name+FROM+Account+WHERE+Id='@{acct.id}'", "referenceId": "found"}
        ]}))
        .send()
        .await
        .expect("composite");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    let found = &body["compositeResponse"][1];
    assert_eq!(found["httpStatusCode"], 200, "{body}");
    assert_eq!(found["body"]["totalSize"], 1);
    assert_eq!(found["body"]["records"][0]["Name"], "Composite Co");
}

#[tokio::test]
async fn an_unseeded_org_still_has_its_dev_user_and_standard_price_book() {
    let org = Org::empty().await;
    let body = org.ok("SELECT Username, Profile.Name FROM User").await;
    assert_eq!(body["totalSize"], 1, "{body}");
    assert_eq!(body["records"][0]["Username"], org.r.org.config().username);
    assert_eq!(
        body["records"][0]["Profile"]["Name"],
        "System Administrator"
    );
    let body = org
        .ok("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
        .await;
    assert_eq!(body["totalSize"], 1);
}

#[tokio::test]
async fn synthetic_contacts_are_found_by_phone_and_external_id() {
    let r = spawn_with(Config {
        seed: Seed::None,
        synthetic_contacts: 2500,
        ..Config::default()
    })
    .await;
    let org = Org {
        token: token(&r).await,
        r,
    };
    let n = 1234;
    let phone = callforce_devorg::synthetic::phone(n);
    let body = org
        .ok(&format!(
            "SELECT Id, LastName FROM Contact WHERE Phone = '{phone}'"
        ))
        .await;
    assert_eq!(body["totalSize"], 1);
    assert!(
        body["records"][0]["LastName"]
            .as_str()
            .is_some_and(|l| l.ends_with(" 1234"))
    );
    let ext = callforce_devorg::synthetic::external_id(n);
    let body = org
        .ok(&format!(
            "SELECT Id FROM Contact WHERE External_Id__c = '{ext}'"
        ))
        .await;
    assert_eq!(body["totalSize"], 1);
    assert_eq!(
        org.ok("SELECT COUNT() FROM Contact").await["totalSize"],
        2500
    );
}

#[tokio::test]
async fn scope_security_and_locking_clauses_are_accepted() {
    let org = Org::demo().await;
    let plain = org
        .ok("SELECT Id FROM Account WHERE Name LIKE 'Acme%' ORDER BY Name")
        .await;
    for soql in [
        "SELECT Id FROM Account USING SCOPE Everything WHERE Name LIKE 'Acme%' ORDER BY Name",
        "SELECT Id FROM Account WHERE Name LIKE 'Acme%' WITH SECURITY_ENFORCED ORDER BY Name",
        "SELECT Id FROM Account WHERE Name LIKE 'Acme%' ORDER BY Name FOR VIEW",
        "SELECT Id FROM Account WHERE Name LIKE 'Acme%' ORDER BY Name FOR UPDATE",
    ] {
        assert_eq!(org.ok(soql).await, plain, "{soql}");
    }
}

#[tokio::test]
async fn multi_select_picklists_match_includes_and_excludes() {
    let org = Org::empty().await;
    let (status, describe) = org.get("sobjects/Contact/describe", &[]).await;
    assert_eq!(status, 200);
    let Some(field) = describe["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["type"] == "multipicklist"))
    else {
        panic!("the demo schema has a multi-select picklist on Contact");
    };
    let name = field["name"].as_str().expect("name");
    let values: Vec<&str> = field["picklistValues"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v["value"].as_str())
        .collect();
    assert!(values.len() >= 3, "{values:?}");
    org.insert(
        "Contact",
        [
            json!({"LastName": "Both", name: format!("{};{}", values[0], values[1])}),
            json!({"LastName": "One", name: values[0]}),
        ],
    );
    let count = |b: Value| b["totalSize"].as_u64();
    let q = |cond: String| format!("SELECT Id FROM Contact WHERE {name} {cond}");
    assert_eq!(
        count(org.ok(&q(format!("INCLUDES ('{}')", values[0]))).await),
        Some(2)
    );
    assert_eq!(
        count(
            org.ok(&q(format!("INCLUDES ('{};{}')", values[0], values[1])))
                .await
        ),
        Some(1)
    );
    assert_eq!(
        count(
            org.ok(&q(format!("INCLUDES ('{}', '{}')", values[1], values[2])))
                .await
        ),
        Some(1)
    );
    assert_eq!(
        count(org.ok(&q(format!("EXCLUDES ('{}')", values[1]))).await),
        Some(1)
    );
}
