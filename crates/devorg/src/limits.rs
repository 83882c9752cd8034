//! The daily API allowance: the request counter behind `Sforce-Limit-Info`, `GET /limits` and
//! 403 `REQUEST_LIMIT_EXCEEDED`.
//!
//! Every authenticated request under `/services/data/vXX.X/` counts once (a composite request
//! is one request), counted by [`crate::oauth::gate`]. The count starts again each UTC day.
//! `GET /limits` reports the same count as the header. Admin routes: `POST /devorg/limits/reset`
//! and `PUT /devorg/limits` (`{"used": N, "max": M}`, both optional).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::json_response;
use crate::{ApiError, Config, DevOrg};

/// The response header carrying the API usage.
pub const HEADER: &str = "sforce-limit-info";

struct Usage {
    day: NaiveDate,
    used: u64,
    max: u64,
}

/// The API request counter of the current day.
pub struct Limits {
    usage: Mutex<Usage>,
}

impl Limits {
    /// A fresh counter with the configured daily allowance.
    pub fn new(config: &Config) -> Self {
        Self {
            usage: Mutex::new(Usage {
                day: Utc::now().date_naive(),
                used: 0,
                max: config.daily_api_limit,
            }),
        }
    }

    fn today(&self) -> parking_lot::MutexGuard<'_, Usage> {
        let mut u = self.usage.lock();
        let today = Utc::now().date_naive();
        if u.day != today {
            u.day = today;
            u.used = 0;
        }
        u
    }

    /// Counts one request, or refuses it with 403 `REQUEST_LIMIT_EXCEEDED` when the day's
    /// allowance is spent.
    ///
    /// # Errors
    /// The 403 to answer with.
    pub fn consume(&self) -> Result<(), ApiError> {
        let mut u = self.today();
        if u.used >= u.max {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            ));
        }
        u.used += 1;
        Ok(())
    }

    /// Requests counted today and the daily allowance.
    pub fn usage(&self) -> (u64, u64) {
        let u = self.today();
        (u.used, u.max)
    }

    /// Sets today's count and, when given, the allowance.
    pub fn set(&self, used: u64, max: Option<u64>) {
        let mut u = self.today();
        u.used = used;
        if let Some(m) = max {
            u.max = m;
        }
    }

    /// The `Sforce-Limit-Info` value: `api-usage=<used>/<max>`.
    pub fn header_value(&self) -> HeaderValue {
        let (used, max) = self.usage();
        HeaderValue::from_str(&format!("api-usage={used}/{max}"))
            .unwrap_or(HeaderValue::from_static("api-usage=0/0"))
    }
}

/// `GET /services/data/vXX.X/limits`.
pub fn routes() -> axum::Router<DevOrg> {
    axum::Router::new().route("/limits", get(limits))
}

/// The `/devorg/limits` admin routes.
pub fn admin_router(org: DevOrg) -> axum::Router {
    axum::Router::new()
        .route("/devorg/limits/reset", post(reset))
        .route("/devorg/limits", get(show).put(set))
        .with_state(org)
}

/// The static limits of a Developer Edition org, `(name, max)`; the API count is live.
const STATIC: &[(&str, u64)] = &[
    ("ActiveScratchOrgs", 3),
    ("AnalyticsExternalDataSizeMB", 40_960),
    ("ConcurrentAsyncGetReportInstances", 200),
    ("ConcurrentEinsteinDataInsightsStoryCreation", 5),
    ("ConcurrentEinsteinDiscoveryStoryCreation", 2),
    ("ConcurrentSyncReportRuns", 20),
    ("DailyAnalyticsDataflowJobExecutions", 60),
    ("DailyAnalyticsUploadedFilesSizeMB", 51_200),
    ("DailyAsyncApexExecutions", 250_000),
    ("DailyAsyncApexTests", 500),
    ("DailyBulkApiBatches", 15_000),
    ("DailyBulkV2QueryFileStorageMB", 976_562),
    ("DailyBulkV2QueryJobs", 10_000),
    ("DailyDeliveredPlatformEvents", 10_000),
    ("DailyDurableGenericStreamingApiEvents", 10_000),
    ("DailyDurableStreamingApiEvents", 10_000),
    ("DailyEinsteinDataInsightsStoryCreation", 1_000),
    ("DailyEinsteinDiscoveryPredictAPICalls", 50_000),
    ("DailyEinsteinDiscoveryPredictionsByCDC", 500_000),
    ("DailyEinsteinDiscoveryStoryCreation", 100),
    ("DailyFunctionsApiCallLimit", 235_000),
    ("DailyGenericStreamingApiEvents", 10_000),
    ("DailyScratchOrgs", 6),
    ("DailyStandardVolumePlatformEvents", 10_000),
    ("DailyStreamingApiEvents", 10_000),
    ("DailyWorkflowEmails", 405),
    ("DataStorageMB", 5),
    ("DurableStreamingApiConcurrentClients", 20),
    ("FileStorageMB", 20),
    ("HourlyAsyncReportRuns", 1_200),
    ("HourlyDashboardRefreshes", 200),
    ("HourlyDashboardResults", 5_000),
    ("HourlyDashboardStatuses", 999_999_999),
    ("HourlyLongTermIdMapping", 100_000),
    ("HourlyManagedContentPublicRequests", 50_000),
    ("HourlyODataCallout", 10_000),
    ("HourlyPublishedPlatformEvents", 50_000),
    ("HourlyPublishedStandardVolumePlatformEvents", 100_000),
    ("HourlyShortTermIdMapping", 100_000),
    ("HourlySyncReportRuns", 500),
    ("HourlyTimeBasedWorkflow", 50),
    ("MassEmail", 10),
    ("MonthlyEinsteinDiscoveryStoryCreation", 500),
    ("MonthlyPlatformEventsUsageEntitlement", 300_000),
    ("Package2VersionCreates", 6),
    ("Package2VersionCreatesWithoutValidation", 500),
    ("PermissionSetsAssigned", 1_500),
    ("PrivateConnectOutboundCalloutHourlyLimitMB", 0),
    ("SingleEmail", 15),
    ("StreamingApiConcurrentClients", 20),
];

/// The limits map: `{"<Name>": {"Max": n, "Remaining": n}, ...}` in name order.
pub fn limits_map(org: &DevOrg) -> Value {
    let (used, max) = org.limits().usage();
    let mut entries: Vec<(&str, u64, u64)> = STATIC.iter().map(|(n, m)| (*n, *m, *m)).collect();
    entries.push(("DailyApiRequests", max, max.saturating_sub(used)));
    entries.sort_by_key(|(n, _, _)| *n);
    let mut m = Map::new();
    for (name, max, remaining) in entries {
        m.insert(
            name.to_owned(),
            json!({ "Max": max, "Remaining": remaining }),
        );
    }
    Value::Object(m)
}

async fn limits(State(org): State<DevOrg>) -> Response {
    json_response(StatusCode::OK, &limits_map(&org))
}

fn usage_json(org: &DevOrg) -> Response {
    let (used, max) = org.limits().usage();
    json_response(StatusCode::OK, &json!({ "used": used, "max": max }))
}

async fn show(State(org): State<DevOrg>) -> Response {
    usage_json(&org)
}

async fn reset(State(org): State<DevOrg>) -> Response {
    org.limits().set(0, None);
    usage_json(&org)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetUsage {
    used: Option<u64>,
    max: Option<u64>,
}

async fn set(State(org): State<DevOrg>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<SetUsage>(&body) {
        Ok(s) => {
            let used = s.used.unwrap_or_else(|| org.limits().usage().0);
            org.limits().set(used, s.max);
            usage_json(&org)
        }
        Err(e) => ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", e.to_string())
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_counts_until_the_allowance_then_refuses() {
        let l = Limits::new(&Config {
            daily_api_limit: 2,
            ..Config::default()
        });
        assert!(l.consume().is_ok());
        assert!(l.consume().is_ok());
        let e = l.consume().err().map(|e| e.code().to_owned());
        assert_eq!(e.as_deref(), Some("REQUEST_LIMIT_EXCEEDED"));
        assert_eq!(l.usage(), (2, 2));
        assert_eq!(l.header_value(), "api-usage=2/2");
        l.set(0, Some(5));
        assert_eq!(l.usage(), (0, 5));
    }
}
