//! Parse time of a typical agent query (caller lookup by phone with recent cases), and of its
//! printing. Run with `cargo bench -p callforce-soql`.

use std::hint::black_box;

use callforce_soql::{parse_query, parse_search};
use criterion::{Criterion, criterion_group, criterion_main};

const AGENT_QUERY: &str = "SELECT Id, Name, Phone, Email, Account.Name, (SELECT Id, CaseNumber, Subject, Status \
FROM Cases ORDER BY CreatedDate DESC LIMIT 3) FROM Contact WHERE Phone = '+15551234567' OR \
MobilePhone = '+15551234567' LIMIT 1";

const AGENT_SEARCH: &str = "FIND {\\+15551234567} IN PHONE FIELDS RETURNING Contact(Id, Name, Account.Name), Lead(Id, Name) LIMIT 10";

fn bench(c: &mut Criterion) {
    c.bench_function("parse_query agent lookup", |b| {
        b.iter(|| parse_query(black_box(AGENT_QUERY)))
    });
    let q = parse_query(AGENT_QUERY).expect("the bench query parses");
    c.bench_function("print agent lookup", |b| {
        b.iter(|| black_box(&q).to_string())
    });
    c.bench_function("parse_search phone lookup", |b| {
        b.iter(|| parse_search(black_box(AGENT_SEARCH)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
