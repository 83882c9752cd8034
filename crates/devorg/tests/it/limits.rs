//! The daily API allowance: header, `/limits`, 403 once spent.

use serde_json::Value;

use crate::harness::{base, http, spawn_with, token};

fn usage(resp: &reqwest::Response) -> (u64, u64) {
    let v = resp.headers()["sforce-limit-info"].to_str().expect("ascii");
    let (used, max) = v
        .strip_prefix("api-usage=")
        .and_then(|s| s.split_once('/'))
        .expect("api-usage=N/M");
    (used.parse().expect("used"), max.parse().expect("max"))
}

#[tokio::test]
async fn each_request_counts_once_and_limits_agree_with_the_header() {
    let r = spawn_with(callforce_devorg::Config {
        daily_api_limit: 50,
        ..Default::default()
    })
    .await;
    let t = token(&r).await;
    let url = format!("{}/services/data/v59.0/limits/", base(&r));
    let first = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(usage(&first), (1, 50));
    let second = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(usage(&second), (2, 50));
    assert!(
        second.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/json;charset=UTF-8")
    );
    let body: Value = second.json().await.expect("json");
    assert_eq!(
        body["DailyApiRequests"],
        serde_json::json!({"Max": 50, "Remaining": 48})
    );
    for name in [
        "DataStorageMB",
        "FileStorageMB",
        "DailyBulkApiBatches",
        "DailyAsyncApexExecutions",
        "DailyBulkV2QueryJobs",
        "DailyBulkV2QueryFileStorageMB",
        "HourlyPublishedPlatformEvents",
        "MassEmail",
        "SingleEmail",
        "ConcurrentAsyncGetReportInstances",
        "HourlyODataCallout",
    ] {
        assert!(body[name]["Max"].as_u64().is_some_and(|m| m > 0), "{name}");
        assert!(body[name]["Remaining"].as_u64().is_some(), "{name}");
    }
}

#[tokio::test]
async fn spending_the_allowance_gives_403_until_reset() {
    let r = spawn_with(callforce_devorg::Config {
        daily_api_limit: 3,
        ..Default::default()
    })
    .await;
    let t = token(&r).await;
    let url = format!("{}/services/data/v59.0/limits", base(&r));
    for _ in 0..3 {
        let resp = http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .expect("limits");
        assert_eq!(resp.status(), 200);
    }
    let refused = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(refused.status(), 403);
    assert_eq!(usage(&refused), (3, 3));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!([{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}])
    );
    let reset = http()
        .post(format!("{}/devorg/limits/reset", base(&r)))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 200);
    let ok = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(ok.status(), 200);
    assert_eq!(usage(&ok), (1, 3));
    let set = http()
        .put(format!("{}/devorg/limits", base(&r)))
        .json(&serde_json::json!({"used": 3}))
        .send()
        .await
        .expect("set");
    assert_eq!(set.status(), 200);
    let refused = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(refused.status(), 403);
}
