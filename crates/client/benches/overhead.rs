//! The client's own per-request overhead, without the network: building and serialising a
//! typical write (a Contact create) and a composite of three, and parsing a typical query page.

use std::hint::black_box;

use callforce_client::{ApiVersion, CompositeBuilder, QueryResult, Record, Request};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn contact() -> Record {
    json!({
        "FirstName": "Ada", "LastName": "Lovelace", "Phone": "+15551234567",
        "Email": "ada@example.com", "AccountId": "001D000000IRFmaIAH",
        "Description": "Called about her order; wants a callback tomorrow morning."
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn query_page() -> String {
    let records: Vec<_> = (0..10)
        .map(|i| {
            json!({
                "attributes": {"type": "Contact", "url": format!("/services/data/v59.0/sobjects/Contact/003D000000QV9n{i}IAD")},
                "Id": "003D000000QV9n2IAD", "Name": format!("Contact {i}"), "Phone": "+15551234567",
                "Email": "someone@example.com",
                "Account": {"attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001D000000IRFmaIAH"}, "Name": "Acme"}
            })
        })
        .collect();
    json!({"totalSize": 10, "done": true, "records": records}).to_string()
}

fn overhead(c: &mut Criterion) {
    let record = contact();
    c.bench_function("build_and_serialise_create", |b| {
        b.iter(|| {
            let req = Request::Create {
                sobject: "Contact".into(),
                record: black_box(record.clone()),
            };
            black_box(req.to_http(ApiVersion::DEFAULT))
        })
    });
    c.bench_function("build_and_serialise_composite_of_3", |b| {
        b.iter(|| {
            let mut cb = CompositeBuilder::new(ApiVersion::DEFAULT, true);
            let a = cb.create(
                "acct",
                "Account",
                json!({"Name": "Acme"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            let mut r = record.clone();
            r.insert("AccountId".into(), a.id().into());
            cb.create("contact", "Contact", r);
            cb.create(
                "task",
                "Task",
                json!({"Subject": "Call", "WhatId": a.id()})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            let req = cb.build().map(Request::Composite);
            black_box(req.and_then(|r| r.to_http(ApiVersion::DEFAULT)))
        })
    });
    let page = query_page();
    c.bench_function("parse_query_page_of_10_contacts", |b| {
        b.iter(|| black_box(serde_json::from_str::<QueryResult>(black_box(&page))))
    });
}

criterion_group!(benches, overhead);
criterion_main!(benches);
