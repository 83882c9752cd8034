//! API usage from the `Sforce-Limit-Info` header, read on every response.
//!
//! The header looks like `api-usage=25/5000` or
//! `api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)`. Each connection keeps the
//! latest figures in an [`UsageTracker`]; [`ApiUsage`] is what callers read (for metrics, and to
//! pause a queue before the allowance is spent).

use std::time::SystemTime;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The header's name.
pub const HEADER: &str = "sforce-limit-info";

/// The org's API usage as of one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// API requests used in the last 24 hours.
    pub used: u64,
    /// The allowance.
    pub max: u64,
    /// The connected app's own usage and allowance, when the org reports it.
    pub per_app: Option<AppUsage>,
    /// When the header was read.
    pub observed_at: SystemTime,
}

/// A connected app's share of the allowance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppUsage {
    /// Requests used by the app.
    pub used: u64,
    /// The app's allowance.
    pub max: u64,
    /// The app's name.
    pub app_name: String,
}

impl ApiUsage {
    /// Requests left before the allowance is spent.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// The share of the allowance used, from 0.0 to 1.0 (1.0 when the allowance is 0).
    pub fn fraction_used(&self) -> f64 {
        if self.max == 0 {
            1.0
        } else {
            self.used as f64 / self.max as f64
        }
    }
}

/// Parses a `Sforce-Limit-Info` value; `None` when it has no `api-usage=N/M` part.
pub fn parse(value: &str, now: SystemTime) -> Option<ApiUsage> {
    let mut usage: Option<(u64, u64)> = None;
    let mut per_app = None;
    for part in value.split(';').map(str::trim) {
        if let Some(rest) = part.strip_prefix("api-usage=") {
            usage = pair(rest);
        } else if let Some(rest) = part.strip_prefix("per-app-api-usage=") {
            let (nums, name) = match rest.split_once("(appName=") {
                Some((n, name)) => (n, name.strip_suffix(')').unwrap_or(name)),
                None => (rest, ""),
            };
            per_app = pair(nums).map(|(used, max)| AppUsage {
                used,
                max,
                app_name: name.to_owned(),
            });
        }
    }
    let (used, max) = usage?;
    Some(ApiUsage {
        used,
        max,
        per_app,
        observed_at: now,
    })
}

fn pair(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The latest usage seen on a connection.
#[derive(Debug, Default)]
pub struct UsageTracker {
    latest: Mutex<Option<ApiUsage>>,
}

impl UsageTracker {
    /// Records the header of one response (ignored when it does not parse).
    pub fn observe(&self, value: &str) {
        if let Some(u) = parse(value, SystemTime::now()) {
            *self.latest.lock() = Some(u);
        }
    }

    /// The latest usage, if any response carried the header yet.
    pub fn latest(&self) -> Option<ApiUsage> {
        self.latest.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let t = SystemTime::UNIX_EPOCH;
        type Case<'a> = (&'a str, Option<(u64, u64)>, Option<(u64, u64, &'a str)>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("api-usage=10018/100000", Some((10018, 100_000)), None),
            ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
             Some((25, 5000)), Some((17, 250, "sample-connected-app"))),
            ("api-usage= 3 / 7", Some((3, 7)), None),
            ("per-app-api-usage=17/250(appName=x)", None, None),
            ("api-usage=x/5", None, None),
            ("", None, None),
        ];
        for (value, usage, app) in cases {
            let got = parse(value, t);
            assert_eq!(got.as_ref().map(|u| (u.used, u.max)), *usage, "{value}");
            let got_app = got
                .and_then(|u| u.per_app)
                .map(|a| (a.used, a.max, a.app_name));
            assert_eq!(
                got_app,
                app.map(|(u, m, n)| (u, m, n.to_owned())),
                "{value}"
            );
        }
    }

    #[test]
    fn remaining_and_fraction() {
        let u = parse("api-usage=75/100", SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(u.remaining(), 25);
        assert!((u.fraction_used() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn tracker_keeps_the_latest_and_ignores_junk() {
        let t = UsageTracker::default();
        assert!(t.latest().is_none());
        t.observe("api-usage=1/10");
        t.observe("garbage");
        t.observe("api-usage=2/10");
        assert_eq!(t.latest().map(|u| u.used), Some(2));
    }
}
