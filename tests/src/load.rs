//! Load helpers: upstreams for the dummy channel (one recording each account's peak concurrency,
//! one that never ends its streams) and a client that retries while no slot is free.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;

use crate::FakeUpstream;

/// How long the upstream holds each request, so concurrent requests overlap.
const HOLD: Duration = Duration::from_millis(30);

/// Per account (the dummy's `x-dummy-account` header): requests in flight now, and the most
/// ever in flight at once.
#[derive(Clone, Default)]
pub struct PeakLoad(Arc<Mutex<HashMap<String, (u32, u32)>>>);

impl PeakLoad {
    /// The peak concurrency of every account that was called.
    pub fn peaks(&self) -> HashMap<String, u32> {
        let load = self.0.lock().expect("load lock");
        load.iter()
            .map(|(account, (_, peak))| (account.clone(), *peak))
            .collect()
    }

    fn enter(&self, account: &str) {
        let mut load = self.0.lock().expect("load lock");
        let (now, peak) = load.entry(account.to_owned()).or_default();
        *now += 1;
        *peak = (*peak).max(*now);
    }

    fn leave(&self, account: &str) {
        if let Some((now, _)) = self.0.lock().expect("load lock").get_mut(account) {
            *now -= 1;
        }
    }
}

/// The dummy channel's SSE upstream (`POST /stream`, configure `upstream_url`): it holds every
/// request [`HOLD`] and records the load per account.
pub async fn peak_load_upstream() -> (FakeUpstream, PeakLoad) {
    let load = PeakLoad::default();
    let recorder = load.clone();
    let fake = FakeUpstream::start(axum::Router::new().route(
        "/stream",
        post(move |headers: HeaderMap| {
            let load = recorder.clone();
            async move {
                let account = headers
                    .get("x-dummy-account")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                load.enter(&account);
                tokio::time::sleep(HOLD).await;
                load.leave(&account);
                "data: ok\n\ndata: [DONE]\n\n"
            }
        }),
    ))
    .await;
    (fake, load)
}

/// Posts `body` to `url` until the gateway admits it, waiting while every account slot is busy
/// (503); returns the response body. Any other status fails the test.
pub async fn post_until_admitted(url: &str, body: &serde_json::Value) -> String {
    let client = reqwest::Client::new();
    loop {
        let resp = client.post(url).json(body).send().await.expect("gateway answers");
        match resp.status().as_u16() {
            200 => return resp.text().await.expect("body"),
            503 => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("unexpected status {other}"),
        }
    }
}

/// The dummy channel's SSE upstream (`POST /stream`) whose streams never end: a `tick` event
/// every 50 ms, so tests can hold a lease open and then walk away.
pub async fn endless_upstream() -> FakeUpstream {
    FakeUpstream::start(axum::Router::new().route(
        "/stream",
        post(|| async {
            let ticks = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Ok::<_, std::io::Error>("data: tick\n\n"), ()))
            });
            axum::body::Body::from_stream(ticks)
        }),
    ))
    .await
}
