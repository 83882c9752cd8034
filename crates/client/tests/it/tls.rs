//! The client over HTTPS, trusting the dev org's local CA, as it would a real org's certificate.

use callforce_client::{Connection, ConnectionConfig, HttpConfig, HttpPool, LoginHost};
use callforce_devorg::{Config, DevOrg};

use crate::{app, password_grant};

#[tokio::test]
async fn logs_in_and_queries_over_https_with_http2() {
    let org = DevOrg::new(Config::default()).expect("org");
    let r = callforce_devorg::spawn_tls(org, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn_tls");
    let url = r.org.instance_url().to_owned();
    assert!(url.starts_with("https://"), "{url}");
    let ca = std::fs::read(r.ca_cert.as_ref().expect("a CA file")).expect("read CA");

    let mut cfg = ConnectionConfig::new(LoginHost::Url(url.clone()), app(&r));
    cfg.pool = Some(HttpPool::new(HttpConfig {
        extra_root_certs: vec![ca.clone()],
        ..HttpConfig::default()
    }));
    let conn = Connection::login(cfg, password_grant(&r))
        .await
        .expect("login over https");
    let page = conn
        .query::<serde_json::Value>("SELECT Name FROM Contact WHERE Phone = '(555) 123-4567'")
        .await
        .expect("query over https");
    assert_eq!(page.records[0]["Name"], "Sarah Johnson");

    // The org negotiates HTTP/2 through ALPN; a client without the CA is refused.
    let h2 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .build()
        .expect("client");
    let resp = h2
        .get(format!("{url}/services/data"))
        .send()
        .await
        .expect("versions");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{url}/services/data"))
            .send()
            .await
            .is_err()
    );
}
