//! What tolerating misheard names and partial numbers costs a search, against the dev org over a
//! real socket on this machine: a name found as said (the plain query, then ranking its
//! records), a misheard name (the plain query finds nothing, then the candidate query and the
//! ranking), a partial number (one query with the number's end), and the ranking alone of
//! `MAX_CANDIDATES` records (the CPU a close match adds) and of three (what a search found as
//! said adds).
//!
//! Run: `cargo bench -p callforce-actions --bench search`.

use callforce_actions::spoken::{self, Term};
use callforce_actions::{Actions, CallSession, CallVars, Catalog};
use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, SecretString,
};
use callforce_devorg::{Config, DevOrg};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn search(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_org, actions) = rt.block_on(async {
        let org = DevOrg::new(Config::default()).expect("dev org");
        let r = callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("spawn");
        let cfg = r.org.config();
        let app = OAuthApp {
            client_id: cfg.client_id.clone(),
            client_secret: Some(SecretString::from(cfg.client_secret.clone())),
            redirect_uri: Some("http://127.0.0.1:9/callback".into()),
        };
        let mut config = ConnectionConfig::new(LoginHost::Url(format!("http://{}", r.addr)), app);
        config.pool = Some(HttpPool::new(HttpConfig::default()));
        let grant = Grant::Password {
            username: cfg.username.clone(),
            password: SecretString::from(cfg.password.clone()),
        };
        let conn = Connection::login(config, grant).await.expect("login");
        (r, Actions::new(conn, Catalog::builtin()))
    });
    let call = CallSession::new(CallVars {
        call_id: "bench".into(),
        caller_phone: Some("+15559990001".into()),
        ..CallVars::default()
    });
    for (name, term, approximate) in [
        ("search_contact_as_said", "Mark Alvarez", false),
        ("search_contact_misheard", "Marc Alvares", true),
        ("search_contact_partial_number", "34600", false),
    ] {
        // The case is what it claims: found as said, or only by a close match.
        let mut probe = call.clone();
        let r = rt
            .block_on(actions.run(&mut probe, "search_contact", json!({"search_term": term})))
            .expect("search");
        assert_eq!(r["count"], 1, "{term}: {r}");
        assert_eq!(r["approximate"] == json!(true), approximate, "{term}: {r}");
        c.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let mut call = call.clone();
                let actions = &actions;
                async move {
                    actions
                        .run(&mut call, "search_contact", json!({"search_term": term}))
                        .await
                        .expect("search")
                }
            });
        });
    }

    let p = spoken::profile("Contact").expect("profile");
    let records: Vec<Value> = (0..spoken::MAX_CANDIDATES)
        .map(|i| {
            json!({"FirstName": format!("Maria{i}"), "LastName": "Alvarado", "Email": format!("m{i}@x.example"),
                   "Phone": format!("(555) 100-{i:04}"), "Account": {"Name": "Acme Corporation"}})
        })
        .collect();
    let term = Term::read("Marc Alvares");
    c.bench_function("rank_200_candidates", |b| {
        b.iter_batched(
            || records.clone(),
            |r| spoken::rank(&p, &term, Some("1"), r),
            BatchSize::SmallInput,
        )
    });
    // What a search found as said adds: its few records ranked (three Johnsons).
    let three: Vec<Value> = records.iter().take(3).cloned().collect();
    let term = Term::read("Johnson");
    c.bench_function("rank_3_records", |b| {
        b.iter_batched(
            || three.clone(),
            |r| spoken::rank(&p, &term, Some("1"), r),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, search);
criterion_main!(benches);
