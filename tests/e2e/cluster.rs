//! Two gateway instances on one Redis behave as one gateway: shared account capacity, keys,
//! sessions, runtime config and models.

use std::sync::Arc;
use std::time::Duration;

use gateway_tests::load::{endless_upstream, peak_load_upstream, post_until_admitted};
use gateway_tests::{LOOPBACK_GRANTS, TestGateway, TestRedis, claude_request, eventually, sse_text};
use reqwest::Method;
use serde_json::{Value, json};

fn plugins(config: &str) -> String {
    format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\nmax_instances = 256\n\
         [plugins.dummy.config]\n{config}\n"
    )
}

async fn pair(redis: &TestRedis, config: &str) -> (Arc<TestGateway>, Arc<TestGateway>) {
    let p = plugins(config);
    let a = TestGateway::start_on_redis(redis, &["dummy"], &p).await;
    let b = TestGateway::start_on_redis(redis, &["dummy"], &p).await;
    (Arc::new(a), Arc::new(b))
}

async fn in_flight(gw: &TestGateway) -> u64 {
    let queue = gw.admin_get("/api/queue").await;
    queue["channels"]["dummy"]["in_flight"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_inflight_holds_across_two_instances_and_leases_return() {
    let Some(redis) = TestRedis::start() else { return };
    let (fake, load) = peak_load_upstream().await;
    let (a, b) = pair(&redis, &format!("upstream_url = \"{}\"", fake.url(""))).await;
    for name in ["one", "two", "three"] {
        a.add_account_with("dummy", json!({"name": name}), 2).await;
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let gw = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let body = claude_request("http", "x", i % 4 < 2);
            post_until_admitted(&gw.url("/dummy/v1/messages"), &body).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peaks = load.peaks();
    assert_eq!(peaks.len(), 3, "every account served: {peaks:?}");
    for (account, peak) in &peaks {
        assert!(
            *peak <= 2,
            "account {account} reached {peak} concurrent requests across instances"
        );
    }
    eventually(Duration::from_secs(5), || async { in_flight(&a).await == 0 }).await;
    assert_eq!(
        in_flight(&b).await,
        0,
        "both instances see the same (empty) leases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_of_clients_that_leave_mid_stream_return_on_both_instances() {
    let Some(redis) = TestRedis::start() else { return };
    let slow = endless_upstream().await;
    let (a, b) = pair(&redis, &format!("upstream_url = \"{}\"", slow.url(""))).await;
    a.add_account_with("dummy", json!({"name": "s"}), 2).await;
    let mut open = Vec::new();
    for gw in [&a, &b] {
        let mut resp = reqwest::Client::new()
            .post(gw.url("/dummy/v1/messages"))
            .json(&claude_request("http", "x", true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.chunk().await.unwrap();
        open.push(resp);
    }
    // Both slots are held, one by each instance: a third request on either is refused.
    assert_eq!(in_flight(&b).await, 2);
    let third = reqwest::Client::new()
        .post(a.url("/dummy/v1/messages"))
        .json(&claude_request("http", "x", false))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 503);
    drop(open);
    eventually(Duration::from_secs(10), || async { in_flight(&a).await == 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_sessions_config_and_models_made_on_one_instance_hold_on_the_other() {
    let Some(redis) = TestRedis::start() else { return };
    let (a, b) = pair(&redis, "greeting = \"from the file\"").await;
    a.add_account("dummy", json!({"name": "x"})).await;
    let client = reqwest::Client::new();

    // An API key created on A authenticates on B (and B leaves open mode).
    let created: Value = a
        .admin(Method::POST, "/api/keys")
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let chat = |gw: &TestGateway, key: Option<&str>| {
        let mut req = client
            .post(gw.url("/dummy/v1/messages"))
            .json(&claude_request("config", "greeting", true));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send()
    };
    assert_eq!(chat(&b, Some(&key)).await.unwrap().status(), 200);
    eventually(Duration::from_secs(3), || async {
        chat(&b, None).await.unwrap().status() == 401
    })
    .await;

    // A session opened on A is valid on B; logging out on B ends it on A.
    let password = a.app.generated_password().or(b.app.generated_password());
    let password = password.expect("the first instance on a fresh store generates a password");
    assert!(
        a.app.generated_password().is_none() || b.app.generated_password().is_none(),
        "exactly one instance generated (and would print) the password"
    );
    let login = client
        .post(a.url("/api/login"))
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let with_session =
        |gw: &TestGateway, path: &str| client.get(gw.url(path)).header("cookie", session.clone()).send();
    assert_eq!(with_session(&b, "/api/plugins").await.unwrap().status(), 200);
    let logout = client
        .post(b.url("/api/logout"))
        .header("cookie", session.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(with_session(&a, "/api/plugins").await.unwrap().status(), 401);

    // A config change on A reaches the plugin on B within a second.
    let greeting = |gw: Arc<TestGateway>, key: String| async move {
        let resp = reqwest::Client::new()
            .post(gw.url("/dummy/v1/messages"))
            .header("x-api-key", key)
            .json(&claude_request("config", "greeting", true))
            .send()
            .await
            .unwrap();
        sse_text(&resp.text().await.unwrap())
    };
    assert_eq!(greeting(b.clone(), key.clone()).await, "from the file");
    let updated = a
        .admin(Method::POST, "/api/config")
        .json(&json!({"plugins": {"dummy": {"greeting": "from the admin API"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let took = eventually(Duration::from_secs(1), || {
        let (b, key) = (b.clone(), key.clone());
        async move { greeting(b, key).await == "from the admin API" }
    })
    .await;
    let seen_by_b = b.admin_get("/api/config").await;
    assert_eq!(seen_by_b["version"], 1);
    assert!(took < Duration::from_secs(1), "config reached B after {took:?}");

    // A model created on A is served by B.
    let model = a
        .admin(Method::POST, "/api/models")
        .json(&json!({"channel": "dummy", "id": "shared-echo", "upstream_name": "echo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(model.status(), 201, "{}", model.text().await.unwrap());
    eventually(Duration::from_secs(2), || async {
        client
            .get(b.url("/v1/models/shared-echo"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_changed_on_one_instance_applies_on_both_and_ends_every_session() {
    let Some(redis) = TestRedis::start() else { return };
    let (a, b) = pair(&redis, "").await;
    let old = a.app.generated_password().or(b.app.generated_password()).unwrap();
    const NEW: &str = "a brand new admin password";
    let client = reqwest::Client::new();
    let session_of = |resp: &reqwest::Response| {
        let cookie = resp.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    };
    let plugins_with = |gw: &TestGateway, session: &str| {
        client
            .get(gw.url("/api/plugins"))
            .header("cookie", session)
            .send()
    };
    let basic = |gw: &TestGateway, password: &str| {
        client
            .get(gw.url("/api/plugins"))
            .basic_auth("admin", Some(password))
            .send()
    };
    let change = |gw: &TestGateway, body: Value| {
        client
            .post(gw.url("/api/admin/password"))
            .basic_auth("admin", Some(old))
            .json(&body)
            .send()
    };
    let login = client
        .post(b.url("/api/login"))
        .json(&json!({"password": old}))
        .send()
        .await
        .unwrap();
    let before = session_of(&login);
    assert_eq!(plugins_with(&a, &before).await.unwrap().status(), 200);

    // Refusals change nothing: no current password, a wrong one, a short new one.
    let refused = [
        (json!({"new_password": NEW}), 400),
        (json!({"current_password": "wrong", "new_password": NEW}), 403),
        (json!({"current_password": old, "new_password": "short"}), 400),
    ];
    for (body, status) in refused {
        let resp = change(&a, body.clone()).await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        assert!(resp.headers().get("set-cookie").is_none());
    }
    assert_eq!(basic(&b, old).await.unwrap().status(), 200);

    let changed = change(&a, json!({"current_password": old, "new_password": NEW}))
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let after = session_of(&changed);
    for gw in [&a, &b] {
        assert_eq!(plugins_with(gw, &before).await.unwrap().status(), 401);
        assert_eq!(plugins_with(gw, &after).await.unwrap().status(), 200);
        assert_eq!(basic(gw, old).await.unwrap().status(), 401);
        assert_eq!(basic(gw, NEW).await.unwrap().status(), 200);
    }

    // The admin token resets the password without knowing it.
    let reset = b
        .admin(Method::POST, "/api/admin/password")
        .json(&json!({"new_password": "reset by the operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(basic(&a, "reset by the operator").await.unwrap().status(), 200);
    assert_eq!(plugins_with(&a, &after).await.unwrap().status(), 401);
}
