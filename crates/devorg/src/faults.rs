//! Injected latency and failures, set by flags or at run time under `/devorg/faults`.
//!
//! A [`FaultSpec`] holds an optional latency (fixed, or uniform jitter between two bounds) and a
//! list of [`Rule`]s. Each rule injects one [`Kind`] of failure into a share (`probability`) or
//! a number (`count`, the next N matching requests) of the requests matching its `method` and
//! `path` glob (`*` any run of characters, `?` one; default `/services/*`). The first rule that
//! fires wins. `seed` makes the random draws reproducible.
//!
//! `GET /devorg/faults` shows the spec in force with what is left of each count and counters;
//! `PUT` replaces it (400 on an invalid spec); `DELETE` clears it. `/devorg/faults` itself is
//! never faulted. The format is documented in `docs/devorg.md`.
//!
//! NB: dropping a connection needs the serving loop: the middleware marks the response with
//! [`DropConnection`], and [`crate::spawn`] / [`crate::spawn_tls`] turn a marked response into
//! a service error, on which hyper closes the connection without answering. Serving
//! [`crate::DevOrg::service`] some other way sends the marked response as a normal one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::json_response;
use crate::{ApiError, Config, DevOrg};

/// Which failure a rule injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 503 `SERVER_UNAVAILABLE`.
    Unavailable,
    /// 500 `UNKNOWN_EXCEPTION` with an ErrorId.
    ServerError,
    /// 400 `UNABLE_TO_LOCK_ROW`.
    UnableToLockRow,
    /// The connection is closed before the request runs; no response.
    Drop,
    /// The request runs fully (a write is applied), then the connection is closed; no response.
    CommitThenDrop,
    /// 400 `FIELD_CUSTOM_VALIDATION_EXCEPTION`, as an org's validation rule refuses a write: a
    /// permanent failure, which retrying does not cure.
    ValidationRule,
}

/// One injected failure and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The failure.
    pub kind: Kind,
    /// The share of matching requests that fail (0.0 to 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// How many of the next matching requests fail (what is left, in `GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Only requests with this method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path matches this glob (default `/services/*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Added latency: `fixed_ms`, or uniform between `min_ms` and `max_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// A fixed delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ms: Option<u64>,
    /// The lower bound of a uniform delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ms: Option<u64>,
    /// The upper bound of a uniform delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    /// Only requests with this method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path matches this glob (default `/services/*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Delay the answer instead of the request: the request runs first (a write is applied),
    /// as a real org finishes a request whose client stopped waiting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after: bool,
}

/// Everything injected: latency, failure rules, and the RNG seed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Latency added to matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Failure rules, tried in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Seed of the random draws (probabilities and jitter); random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl FaultSpec {
    /// Checks bounds: probabilities in 0..=1, exactly one of probability/count per rule,
    /// latency either fixed or `min_ms <= max_ms`, methods valid.
    ///
    /// # Errors
    /// What is wrong, for a 400.
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            match (r.probability, r.count) {
                (Some(p), None) if (0.0..=1.0).contains(&p) => {}
                (Some(_), None) => return Err(format!("rules[{i}].probability must be 0..1")),
                (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "rules[{i}] needs exactly one of probability and count"
                    ));
                }
            }
            check_method(r.method.as_deref()).map_err(|e| format!("rules[{i}]: {e}"))?;
        }
        if let Some(l) = &self.latency {
            match (l.fixed_ms, l.min_ms, l.max_ms) {
                (Some(_), None, None) => {}
                (None, Some(a), Some(b)) if a <= b => {}
                _ => {
                    return Err(
                        "latency needs fixed_ms, or min_ms and max_ms with min_ms <= max_ms".into(),
                    );
                }
            }
            check_method(l.method.as_deref()).map_err(|e| format!("latency: {e}"))?;
        }
        Ok(())
    }
}

fn check_method(m: Option<&str>) -> Result<(), String> {
    match m {
        Some(m) if Method::from_bytes(m.as_bytes()).is_err() => Err(format!("bad method {m}")),
        _ => Ok(()),
    }
}

/// Whether `path` matches `pattern`: `*` matches any run of characters (`/` included), `?` one.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn applies(method: Option<&str>, path: Option<&str>, req_method: &Method, req_path: &str) -> bool {
    method.is_none_or(|m| m.eq_ignore_ascii_case(req_method.as_str()))
        && glob_match(path.unwrap_or("/services/*"), req_path)
}

/// Response extension asking the serving loop to close the connection without answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The service error that makes hyper close a connection (see [`DropConnection`]).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub struct Dropped;

impl From<std::convert::Infallible> for Dropped {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

struct Active {
    spec: FaultSpec,
    rng: StdRng,
}

/// The faults currently in force.
pub struct Faults {
    active: Mutex<Active>,
    delayed: AtomicU64,
    injected: [AtomicU64; 6],
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

/// Counts a request in flight until dropped (so a cancelled request is counted out too).
struct InFlight<'a>(&'a Faults);

impl<'a> InFlight<'a> {
    fn enter(f: &'a Faults) -> Self {
        let now = f.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        f.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        Self(f)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    delay: Option<Duration>,
    /// Whether the delay comes after the request ran.
    after: bool,
    fault: Option<Kind>,
}

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Unavailable => 0,
        Kind::ServerError => 1,
        Kind::UnableToLockRow => 2,
        Kind::Drop => 3,
        Kind::CommitThenDrop => 4,
        Kind::ValidationRule => 5,
    }
}

fn rng_for(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    }
}

impl Faults {
    /// Faults from the configuration: [`Config::faults`], with [`Config::latency`] as a fixed
    /// latency when the spec names none.
    pub fn new(config: &Config) -> Self {
        let mut spec = config.faults.clone();
        if spec.latency.is_none() && !config.latency.is_zero() {
            spec.latency = Some(Latency {
                fixed_ms: Some(u64::try_from(config.latency.as_millis()).unwrap_or(u64::MAX)),
                min_ms: None,
                max_ms: None,
                method: None,
                path: None,
                after: false,
            });
        }
        if let Err(e) = spec.validate() {
            tracing::warn!(error = %e, "configured faults are invalid; none applied");
            spec = FaultSpec::default();
        }
        Self {
            active: Mutex::new(Active {
                rng: rng_for(spec.seed),
                spec,
            }),
            delayed: AtomicU64::new(0),
            injected: Default::default(),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
        }
    }

    /// The spec in force (counts show what is left).
    pub fn spec(&self) -> FaultSpec {
        self.active.lock().spec.clone()
    }

    /// Replaces the spec in force (and starts counting the peak of requests in flight again).
    ///
    /// # Errors
    /// The spec is invalid ([`FaultSpec::validate`]); nothing changes.
    pub fn set(&self, spec: FaultSpec) -> Result<(), String> {
        spec.validate()?;
        let mut a = self.active.lock();
        a.rng = rng_for(spec.seed);
        a.spec = spec;
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(())
    }

    /// Counters of faults applied, for `/devorg/stats` and `GET /devorg/faults`.
    pub fn counters(&self) -> serde_json::Value {
        let n = |k: Kind| self.injected[kind_index(k)].load(Ordering::Relaxed);
        serde_json::json!({
            "delayed": self.delayed.load(Ordering::Relaxed),
            "unavailable": n(Kind::Unavailable),
            "server_error": n(Kind::ServerError),
            "unable_to_lock_row": n(Kind::UnableToLockRow),
            "drop": n(Kind::Drop),
            "commit_then_drop": n(Kind::CommitThenDrop),
            "validation_rule": n(Kind::ValidationRule),
            "peak_in_flight": self.peak_in_flight.load(Ordering::Relaxed),
        })
    }

    fn decide(&self, method: &Method, path: &str) -> Decision {
        let mut a = self.active.lock();
        let Active { spec, rng } = &mut *a;
        let after = spec.latency.as_ref().is_some_and(|l| l.after);
        let delay = spec.latency.as_ref().and_then(|l| {
            if !applies(l.method.as_deref(), l.path.as_deref(), method, path) {
                return None;
            }
            let ms = match (l.fixed_ms, l.min_ms, l.max_ms) {
                (Some(f), _, _) => f,
                (None, Some(lo), Some(hi)) if lo <= hi => rng.random_range(lo..=hi),
                _ => 0,
            };
            (ms > 0).then(|| Duration::from_millis(ms))
        });
        let mut fault = None;
        for rule in &mut spec.rules {
            if !applies(rule.method.as_deref(), rule.path.as_deref(), method, path) {
                continue;
            }
            let fires = match (rule.count.as_mut(), rule.probability) {
                (Some(left), _) if *left > 0 => {
                    *left -= 1;
                    true
                }
                (Some(_), _) => false,
                (None, Some(p)) => rng.random_bool(p.clamp(0.0, 1.0)),
                (None, None) => false,
            };
            if fires {
                fault = Some(rule.kind);
                break;
            }
        }
        // Spent counts are removed so `GET` shows only what is still armed.
        spec.rules.retain(|r| r.count != Some(0));
        Decision {
            delay,
            after,
            fault,
        }
    }
}

/// The `/devorg/faults` admin routes.
pub fn router(org: DevOrg) -> axum::Router {
    axum::Router::new()
        .route("/devorg/faults", get(show).put(replace).delete(clear))
        .with_state(org)
}

fn show_json(org: &DevOrg) -> Response {
    let mut v = serde_json::to_value(org.faults().spec()).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("counters".into(), org.faults().counters());
    }
    json_response(StatusCode::OK, &v)
}

async fn show(State(org): State<DevOrg>) -> Response {
    show_json(&org)
}

async fn replace(State(org): State<DevOrg>, body: axum::body::Bytes) -> Response {
    let spec = match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(s) => s,
        Err(e) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", e.to_string())
                .into_response();
        }
    };
    match org.faults().set(spec) {
        Ok(()) => show_json(&org),
        Err(e) => ApiError::new(StatusCode::BAD_REQUEST, "INVALID_FAULTS", e).into_response(),
    }
}

async fn clear(State(org): State<DevOrg>) -> Response {
    let _ = org.faults().set(FaultSpec::default());
    show_json(&org)
}

fn injected(kind: Kind) -> Response {
    match kind {
        Kind::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable",
        )
        .into_response(),
        Kind::ServerError => {
            let mut rng = rand::rng();
            let id = format!(
                "{}-{} ({})",
                rng.random_range(100_000_000u64..2_000_000_000),
                rng.random_range(1_000u32..100_000),
                rng.random_range(-2_000_000_000i64..-100_000_000)
            );
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                format!(
                    "An unexpected error occurred. Please include this ErrorId if you contact support: {id}"
                ),
            )
            .into_response()
        }
        Kind::UnableToLockRow => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records",
        )
        .into_response(),
        Kind::ValidationRule => ApiError::with_fields(
            StatusCode::BAD_REQUEST,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "This record was refused by a validation rule (injected by the dev org's faults)",
            Vec::new(),
        )
        .into_response(),
        Kind::Drop | Kind::CommitThenDrop => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            r
        }
    }
}

/// Applies the faults in force to a request.
pub async fn middleware(State(org): State<DevOrg>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/devorg/faults" {
        return next.run(req).await;
    }
    let faults = org.faults();
    let _counted = InFlight::enter(faults);
    let d = faults.decide(req.method(), req.uri().path());
    if let Some(delay) = d.delay {
        faults.delayed.fetch_add(1, Ordering::Relaxed);
        if d.after && d.fault.is_none() {
            // NB: the request has run when the client goes away during the wait.
            let r = next.run(req).await;
            tokio::time::sleep(delay).await;
            return r;
        }
        tokio::time::sleep(delay).await;
    }
    let Some(kind) = d.fault else {
        return next.run(req).await;
    };
    faults.injected[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    if kind == Kind::CommitThenDrop {
        let mut r = next.run(req).await;
        r.extensions_mut().insert(DropConnection);
        return r;
    }
    injected(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        let cases = [
            ("/services/*", "/services/data/v59.0/limits", true),
            ("/services/*", "/devorg/stats", false),
            (
                "/services/data/*/sobjects/Case*",
                "/services/data/v59.0/sobjects/Case",
                true,
            ),
            (
                "/services/data/*/sobjects/Case*",
                "/services/data/v59.0/sobjects/Case/500x",
                true,
            ),
            (
                "/services/data/*/sobjects/Case*",
                "/services/data/v59.0/sobjects/Contact",
                false,
            ),
            (
                "/services/data/v5?.0/limits",
                "/services/data/v59.0/limits",
                true,
            ),
            ("/devorg/limits/reset", "/devorg/limits/reset", true),
            ("/devorg/limits/reset", "/devorg/limits/reset2", false),
            ("*", "/anything", true),
        ];
        for (p, s, ok) in cases {
            assert_eq!(glob_match(p, s), ok, "{p} vs {s}");
        }
    }

    fn faults(spec: &str) -> Faults {
        let f = Faults::new(&Config::default());
        let spec = serde_json::from_str(spec).expect("spec parses");
        f.set(spec).expect("valid");
        f
    }

    #[test]
    fn a_count_fires_on_the_next_matching_requests_only() {
        let f = faults(r#"{"rules":[{"kind":"unavailable","count":2,"method":"GET"}]}"#);
        let path = "/services/data/v59.0/limits";
        assert_eq!(f.decide(&Method::POST, path).fault, None);
        assert_eq!(f.decide(&Method::GET, "/devorg/stats").fault, None);
        assert_eq!(f.decide(&Method::GET, path).fault, Some(Kind::Unavailable));
        assert_eq!(f.decide(&Method::GET, path).fault, Some(Kind::Unavailable));
        assert_eq!(f.decide(&Method::GET, path).fault, None);
        assert!(f.spec().rules.is_empty());
    }

    #[test]
    fn a_seeded_probability_is_reproducible() {
        let spec = r#"{"seed":7,"rules":[{"kind":"server_error","probability":0.5}]}"#;
        let draw = |f: &Faults| -> Vec<bool> {
            (0..32)
                .map(|_| f.decide(&Method::GET, "/services/data").fault.is_some())
                .collect()
        };
        let (a, b) = (draw(&faults(spec)), draw(&faults(spec)));
        assert_eq!(a, b);
        assert!(a.contains(&true) && a.contains(&false));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let f = faults(r#"{"seed":1,"latency":{"min_ms":5,"max_ms":9}}"#);
        for _ in 0..50 {
            let d = f.decide(&Method::GET, "/services/x").delay.expect("delay");
            assert!((5..=9).contains(&d.as_millis()), "{d:?}");
        }
    }

    #[test]
    fn invalid_specs_are_refused() {
        let cases = [
            r#"{"rules":[{"kind":"drop"}]}"#,
            r#"{"rules":[{"kind":"drop","count":1,"probability":0.5}]}"#,
            r#"{"rules":[{"kind":"drop","probability":1.5}]}"#,
            r#"{"latency":{"min_ms":9,"max_ms":5}}"#,
            r#"{"latency":{"fixed_ms":1,"min_ms":1,"max_ms":2}}"#,
            r#"{"rules":[{"kind":"drop","count":1,"method":"GE T"}]}"#,
        ];
        for c in cases {
            let spec: FaultSpec = serde_json::from_str(c).expect("parses");
            assert!(spec.validate().is_err(), "{c}");
        }
    }
}
