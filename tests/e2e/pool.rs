//! Account pool: failover by error class, cooldowns, max in-flight, leases released on every path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gateway_tests::load::{endless_upstream, peak_load_upstream, post_until_admitted};
use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request, eventually};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";

async fn gateway(config: &str) -> TestGateway {
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\nmax_instances = 256\n\
         [plugins.dummy.config]\n{config}\n"
    );
    TestGateway::start(&["dummy"], &plugins).await
}

async fn queue(gw: &TestGateway) -> Value {
    let resp = reqwest::Client::new()
        .get(gw.url("/api/queue"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["channels"]["dummy"].clone()
}

#[tokio::test]
async fn fails_over_past_auth_and_rate_limit_to_a_healthy_account() {
    let gw = gateway("").await;
    let one = gw
        .add_account("dummy", json!({"name": "one", "fail": "auth"}))
        .await;
    let two = gw
        .add_account("dummy", json!({"name": "two", "fail": "rate"}))
        .await;
    let three = gw.add_account("dummy", json!({"name": "three"})).await;
    // Whatever order the pool tries them in, the client sees one success from `three`. Keep
    // going until both failing accounts were picked at least once (random tie-breaks).
    let mut sent = 0;
    loop {
        let q = queue(&gw).await;
        let failed = q["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["failures"] == 1)
            .count();
        if failed == 2 {
            break;
        }
        assert!(sent < 60, "failing accounts never tried: {q}");
        sent += 1;
        let resp = reqwest::Client::new()
            .post(gw.url("/dummy/v1/messages"))
            .json(&claude_request("by-account", "x", false))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["content"][0]["text"], "served by three");
    }
    let q = queue(&gw).await;
    let by_id: HashMap<String, Value> = q["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    // The failing accounts were tried at most once each: after that they are out of rotation.
    assert_eq!(by_id[&one]["status"], "disabled");
    assert!(
        by_id[&one]["last_error"]
            .as_str()
            .unwrap()
            .contains("credentials")
    );
    assert_eq!(by_id[&two]["status"], "cooling_down");
    assert!(by_id[&two]["cooldown_until_ms"].as_u64().unwrap() > 0);
    assert_eq!(by_id[&three]["requests"], sent);
    assert_eq!(q["in_flight"], 0);
}

#[tokio::test]
async fn all_accounts_cooling_gives_429_with_retry_after_and_bad_requests_do_not_fail_over() {
    let gw = gateway("").await;
    gw.add_account("dummy", json!({"name": "a", "fail": "rate"}))
        .await;
    gw.add_account("dummy", json!({"name": "b", "fail": "rate"}))
        .await;
    let send = |path: &'static str, body: Value| {
        let url = gw.url(path);
        async move { reqwest::Client::new().post(url).json(&body).send().await.unwrap() }
    };
    let first = send("/dummy/v1/messages", claude_request("by-account", "x", false)).await;
    assert_eq!(first.status(), 429, "both rate limited on the first request");
    let again = send("/dummy/v1/messages", claude_request("by-account", "x", false)).await;
    assert_eq!(again.status(), 429);
    let retry: u64 = again.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let openai = send(
        "/v1/chat/completions",
        json!({"model": "by-account", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(openai.status(), 429);
    assert!(openai.json::<Value>().await.unwrap()["error"]["message"].is_string());

    let gw2 = gateway("").await;
    gw2.add_account("dummy", json!({"name": "bad", "fail": "bad"}))
        .await;
    gw2.add_account("dummy", json!({"name": "good"})).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = reqwest::Client::new()
            .post(gw2.url("/dummy/v1/messages"))
            .json(&claude_request("by-account", "x", false))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    // A bad request is the client's fault: it is returned, not retried on the other account.
    assert!(statuses.contains(&400), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 400 || *s == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_inflight_holds_under_200_concurrent_requests_and_leases_return() {
    let (fake, load) = peak_load_upstream().await;
    let gw = Arc::new(gateway(&format!("upstream_url = \"{}\"", fake.url(""))).await);
    for name in ["a", "b", "c"] {
        gw.add_account_with("dummy", json!({"name": name}), 2).await;
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            let body = claude_request("http", "x", i % 2 == 0);
            post_until_admitted(&gw.url("/dummy/v1/messages"), &body).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peaks = load.peaks();
    assert_eq!(peaks.len(), 3, "every account served: {peaks:?}");
    for (account, peak) in &peaks {
        assert!(*peak <= 2, "account {account} reached {peak} concurrent requests");
    }

    // Clients that leave mid-stream give their leases back too.
    let slow = endless_upstream().await;
    let gw2 = gateway(&format!("upstream_url = \"{}\"", slow.url(""))).await;
    gw2.add_account_with("dummy", json!({"name": "s"}), 2).await;
    for _ in 0..2 {
        let mut resp = reqwest::Client::new()
            .post(gw2.url("/dummy/v1/messages"))
            .json(&claude_request("http", "x", true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.chunk().await.unwrap();
        drop(resp);
    }
    // Leases of clients that left come back within the deadline.
    eventually(Duration::from_secs(10), || async {
        queue(&gw2).await["in_flight"] == 0
    })
    .await;
}
