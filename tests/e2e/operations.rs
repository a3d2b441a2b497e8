//! Operator tools: account tests (one, all), the credential size cap, the token-count cache.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request};
use reqwest::Method;
use serde_json::{Value, json};

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    TestGateway::start(&["dummy"], &plugins).await
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The pool status (`available`, `disabled`, ...) of account `id`.
async fn pool_status(gw: &TestGateway, id: &str) -> String {
    let (_, queue) = send(gw.admin(Method::GET, "/api/queue")).await;
    queue["channels"]["dummy"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .map(|a| a["status"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn account_tests_chat_through_the_account_and_update_the_pool() {
    let gw = gateway().await;
    let good = gw.add_account("dummy", json!({"name": "good"})).await;
    let bad = gw
        .add_account("dummy", json!({"name": "bad", "fail": "auth"}))
        .await;
    gw.add_account("dummy", json!({"name": "slow", "fail": "rate"}))
        .await;
    let test = |id: &str| format!("/api/accounts/{id}/test");

    // Through that very account (the dummy's `by-account` answers with the account's name).
    let (status, ok) = send(
        gw.admin(Method::POST, &test(&good))
            .json(&json!({"model": "by-account"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&ok["account"], &ok["success"], &ok["model"], &ok["reply"]),
        (
            &json!(good),
            &json!(true),
            &json!("by-account"),
            &json!("served by good")
        )
    );
    assert!(
        ok["response_time_ms"].is_u64() && ok.get("error").is_none(),
        "{ok}"
    );
    // No body: the channel's default model (`echo`) and the message "ping".
    let (_, ok) = send(gw.admin(Method::POST, &test(&good))).await;
    assert_eq!((&ok["model"], &ok["reply"]), (&json!("echo"), &json!("ping")));
    let long = "x".repeat(500);
    let (_, ok) = send(
        gw.admin(Method::POST, &test(&good))
            .json(&json!({"message": long})),
    )
    .await;
    assert_eq!(
        ok["reply"].as_str().unwrap().chars().count(),
        200,
        "the reply is cut short"
    );

    // A provider failure is a result, and the pool learns of it like from traffic...
    let (status, failed) = send(
        gw.admin(Method::POST, &test(&bad))
            .json(&json!({"model": "by-account"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(failed["success"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("scripted failure"),
        "{failed}"
    );
    assert_eq!(pool_status(&gw, &bad).await, "disabled");
    // ...and a success clears it.
    let (_, ok) = send(
        gw.admin(Method::POST, &test(&bad))
            .json(&json!({"model": "echo"})),
    )
    .await;
    assert_eq!(ok["success"], true, "{ok}");
    assert_eq!(pool_status(&gw, &bad).await, "available");

    for (path, body, want) in [
        (test(&good), json!({"model": "no-such-model"}), 400),
        (test(&good), json!({"surprise": true}), 400),
        (test("no-such-account"), json!({}), 404),
        (
            "/api/accounts/test-all".to_owned(),
            json!({"channel": "nope"}),
            400,
        ),
    ] {
        assert_eq!(
            send(gw.admin(Method::POST, &path).json(&body)).await.0,
            want,
            "{path} {body}"
        );
    }

    // Every enabled account, each through itself.
    let (status, all) = send(
        gw.admin(Method::POST, "/api/accounts/test-all")
            .json(&json!({"model": "by-account"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&all["total"], &all["success"], &all["failed"]),
        (&json!(3), &json!(1), &json!(2))
    );
    let results = all["results"].as_array().unwrap();
    let served: Vec<&Value> = results.iter().filter(|r| r["success"] == true).collect();
    assert_eq!(served.len(), 1);
    assert_eq!(
        (&served[0]["account"], &served[0]["reply"]),
        (&json!(good), &json!("served by good"))
    );
    // Disabled accounts are skipped.
    let disable = json!({"enabled": false});
    assert_eq!(
        send(
            gw.admin(Method::PUT, &format!("/api/accounts/{bad}"))
                .json(&disable)
        )
        .await
        .0,
        200
    );
    let (_, all) = send(
        gw.admin(Method::POST, "/api/accounts/test-all")
            .json(&json!({"channel": "dummy"})),
    )
    .await;
    assert_eq!((&all["total"], &all["success"]), (&json!(2), &json!(2)), "{all}");
}

#[tokio::test]
async fn credentials_over_the_cap_are_refused_everywhere() {
    let gw = gateway().await;
    let big = "x".repeat(70 * 1024);
    let (status, body) = send(gw.admin(Method::POST, "/api/accounts").json(&json!({
        "channel": "dummy", "credentials": {"blob": big},
    })))
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("65536"),
        "{body}"
    );
    assert!(gw.app.store().list_accounts(None).await.unwrap().is_empty());

    // 40 000 bytes stored: a 30 000-byte patch fits the per-patch limit but not the total.
    let id = gw
        .add_account("dummy", json!({"filler": "y".repeat(40_000)}))
        .await;
    let (status, _) = send(
        gw.admin(Method::PUT, &format!("/api/accounts/{id}"))
            .json(&json!({
                "name": "renamed", "credentials": {"blob": big},
            })),
    )
    .await;
    assert_eq!(status, 400);
    let stored = gw.app.store().get_account(&id).await.unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.version),
        (id.as_str(), 1),
        "nothing changed"
    );

    // A plugin's credential update (the dummy's `persist` stores the text) gets an error and
    // stores nothing; a small one goes through.
    let persist = |text: &str| {
        reqwest::Client::new()
            .post(gw.url("/dummy/v1/messages"))
            .json(&claude_request("persist", text, false))
            .send()
    };
    assert_ne!(persist(&"z".repeat(30_000)).await.unwrap().status(), 200);
    let stored = gw.app.store().get_account(&id).await.unwrap();
    assert!(!stored.credentials.contains_key("rotated"), "nothing stored");
    assert_eq!(persist("small").await.unwrap().status(), 200);
    let stored = gw.app.store().get_account(&id).await.unwrap();
    assert_eq!(stored.credentials["rotated"], "small");
}

#[tokio::test]
async fn count_cache_stats_show_hits_and_clear_empties_it() {
    let gw = gateway().await;
    let (status, cleared) = send(gw.admin(Method::POST, "/api/config/cache/clear")).await;
    assert_eq!(status, 200);
    assert!(cleared["cleared"].is_u64());
    let (_, before) = send(gw.admin(Method::GET, "/api/config/cache/stats")).await;
    assert_eq!(
        (&before["entries"], &before["size_bytes"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(before["max_entries"], 10_000);

    let body = claude_request("echo", "count me twice", false);
    for _ in 0..2 {
        let resp = reqwest::Client::new()
            .post(gw.url("/v1/messages/count_tokens"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let (_, after) = send(gw.admin(Method::GET, "/api/config/cache/stats")).await;
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!((delta("misses"), delta("hits")), (1, 1), "{after}");
    assert_eq!(after["entries"], 1);
    assert!(after["size_bytes"].as_u64().unwrap() > 0);

    let (_, cleared) = send(gw.admin(Method::POST, "/api/config/cache/clear")).await;
    assert_eq!(cleared["cleared"], 1);
    let (_, empty) = send(gw.admin(Method::GET, "/api/config/cache/stats")).await;
    assert_eq!((&empty["entries"], &empty["size_bytes"]), (&json!(0), &json!(0)));
}
