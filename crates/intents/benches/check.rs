//! Checking a map of every writable custom field of the demo schema (200+ fields over 14
//! objects) once the describes are cached: the pure check, and the check through the
//! connection's describe cache (no request goes out).

use std::collections::BTreeMap;
use std::hint::black_box;

use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, SecretString,
};
use callforce_intents::{Describes, Intent, IntentMap, Source, Target, VarType, Write};
use criterion::{Criterion, criterion_group, criterion_main};

const OBJECTS: &[&str] = &[
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "Case",
    "Task",
    "Event",
    "Campaign",
    "CampaignMember",
    "Product2",
    "OpportunityLineItem",
    "Service_Contract__c",
    "Call_Recording__c",
    "Support_Ticket_Note__c",
];

async fn connect() -> Connection {
    let org = callforce_devorg::DevOrg::new(callforce_devorg::Config::default()).expect("org");
    let r = callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn");
    let c = r.org.config().clone();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: None,
    };
    let mut cfg = ConnectionConfig::new(LoginHost::Url(format!("http://{}", r.addr)), app);
    cfg.pool = Some(HttpPool::new(HttpConfig::default()));
    let grant = Grant::Password {
        username: c.username.clone(),
        password: SecretString::from(c.password.clone()),
    };
    // NB: the org keeps serving after `r` is dropped (the task is detached).
    Connection::login(cfg, grant).await.expect("login")
}

fn big_map(d: &Describes) -> IntentMap {
    let mut intents = BTreeMap::new();
    for o in OBJECTS {
        let obj = d.object(o).expect("described");
        for f in obj
            .fields
            .iter()
            .filter(|f| f.name.ends_with("__c") && f.updateable)
        {
            if VarType::of_field(&f.type_, &f.reference_to).is_none() {
                continue;
            }
            let mut fields = BTreeMap::new();
            fields.insert(f.name.clone(), Source::Arg("value".into()));
            intents.insert(
                format!("{}_{}", o.to_lowercase(), f.name.to_lowercase()).replace("__", "_"),
                Intent {
                    description: None,
                    writes: vec![Write {
                        object: (*o).to_owned(),
                        record: Target::Var(format!("last.{o}.Id")),
                        reference: None,
                        record_type: None,
                        fields,
                    }],
                },
            );
        }
    }
    IntentMap {
        variables: BTreeMap::new(),
        intents,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let conn = rt.block_on(connect());
    let d = rt
        .block_on(Describes::fetch(&conn, OBJECTS.iter().copied()))
        .expect("describes");
    let map = big_map(&d);
    assert!(map.field_count() >= 200, "{}", map.field_count());
    let report = callforce_intents::check(&map, &d);
    assert!(report.ok, "{:?}", report.problems);
    c.bench_function(&format!("check_{}_fields", map.field_count()), |b| {
        b.iter(|| black_box(callforce_intents::check(black_box(&map), &d)))
    });
    c.bench_function(
        &format!("check_live_{}_fields_cached", map.field_count()),
        |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(callforce_intents::check_live(&conn, &map).await) })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
