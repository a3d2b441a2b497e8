//! Redis killed mid-run: prompt 503s in each API's shape, refused admin writes, full recovery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, TestRedis, claude_request};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";
/// An outage is reported, not waited out: every answer during one comes within this bound.
const PROMPT: Duration = Duration::from_secs(5);
/// How long the gateway may take to serve again once Redis is back.
const RECOVERY: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Claude,
    OpenAi,
}

/// One public request and how it ended.
struct Outcome {
    api: Api,
    started: Instant,
    elapsed: Duration,
    /// 0 when no response came at all (transport error or the client's own timeout).
    status: u16,
    body: String,
}

impl Outcome {
    fn ended(&self) -> Instant {
        self.started + self.elapsed
    }
}

/// A client whose timeout turns a hung request into a failure instead of a stuck test.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(api: Api, req: reqwest::RequestBuilder) -> Outcome {
    let started = Instant::now();
    let (status, body) = match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (
                status,
                resp.text().await.unwrap_or_else(|e| format!("<body: {e}>")),
            )
        }
        Err(e) => (0, format!("<no response: {e}>")),
    };
    Outcome {
        api,
        started,
        elapsed: started.elapsed(),
        status,
        body,
    }
}

/// A chat through the API's routed-by-model path, non-streaming or streaming.
fn chat_request(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    api: Api,
    stream: bool,
) -> reqwest::RequestBuilder {
    let req = match api {
        Api::Claude => client
            .post(format!("{base}/v1/messages"))
            .json(&claude_request("echo", "hello", stream)),
        Api::OpenAi => client.post(format!("{base}/v1/chat/completions")).json(
            &json!({"model": "echo", "stream": stream, "messages": [{"role": "user", "content": "hello"}]}),
        ),
    };
    match key {
        Some(k) => req.header("x-api-key", k),
        None => req,
    }
}

async fn chat(client: &reqwest::Client, base: &str, key: Option<&str>, api: Api, stream: bool) -> Outcome {
    send(api, chat_request(client, base, key, api, stream)).await
}

/// Panics unless `o` is an error body in its API's shape.
fn assert_error_shape(o: &Outcome, what: &str) {
    let v: Value = serde_json::from_str(&o.body)
        .unwrap_or_else(|_| panic!("{what}: {} with a non-JSON body: {}", o.status, o.body));
    let error = &v["error"];
    assert!(
        error["type"].is_string() && error["message"].is_string(),
        "{what}: {v}"
    );
    match o.api {
        Api::Claude => assert_eq!(v["type"], "error", "{what}: not Claude's shape: {v}"),
        Api::OpenAi => assert!(v.get("type").is_none(), "{what}: not OpenAI's shape: {v}"),
    }
}

/// Panics unless `o` is a prompt 503 in its API's shape.
fn assert_prompt_503(o: &Outcome, what: &str) {
    assert_eq!(o.status, 503, "{what}: {}", o.body);
    assert!(o.elapsed < PROMPT, "{what}: answered after {:?}", o.elapsed);
    assert_error_shape(o, what);
    assert_no_internals(o, what);
}

/// Panics when a public error names the store's internals (backend, driver error, address):
/// those are for the operator's logs, as on `/readyz`.
fn assert_no_internals(o: &Outcome, what: &str) {
    let lower = o.body.to_lowercase();
    assert!(
        !lower.contains("redis") && !lower.contains("127.0.0.1") && !lower.contains("os error"),
        "{what}: a public error shows store internals: {}",
        o.body
    );
}

/// Chats in a loop until `stop`, alternating streaming and not, recording every outcome.
fn spawn_load(
    base: String,
    key: String,
    api: Api,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Outcome>> {
    tokio::spawn(async move {
        let client = client();
        let mut out = Vec::new();
        let mut stream = false;
        while !stop.load(Ordering::Relaxed) {
            out.push(chat(&client, &base, Some(&key), api, stream).await);
            stream = !stream;
            // Pacing only, so the loop does not starve the rest of the test on two cores.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        out
    })
}

/// What an admin writer loop saw: acknowledged writes and the refusals.
#[derive(Default)]
struct Written {
    accounts: Vec<String>,
    /// `(id, key)`.
    keys: Vec<(String, String)>,
    refused: Vec<Outcome>,
}

/// Creates accounts and keys in turn until `stop`, one write at a time, so at most one write is
/// in flight when Redis dies.
fn spawn_writer(base: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Written> {
    tokio::spawn(async move {
        let client = client();
        let mut written = Written::default();
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let account = n % 2 == 1;
            let req = if account {
                client
                    .post(format!("{base}/api/accounts"))
                    .json(&json!({"channel": "dummy", "name": format!("writer-{n}")}))
            } else {
                client
                    .post(format!("{base}/api/keys"))
                    .json(&json!({"name": format!("writer-{n}")}))
            };
            let o = send(Api::Claude, req.bearer_auth(ADMIN)).await;
            if (200..300).contains(&o.status) {
                let v: Value = serde_json::from_str(&o.body).unwrap();
                let id = v["id"].as_str().unwrap().to_owned();
                if account {
                    written.accounts.push(id);
                } else {
                    written.keys.push((id, v["key"].as_str().unwrap().to_owned()));
                }
            } else {
                written.refused.push(o);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        written
    })
}

fn admin(client: &reqwest::Client, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    client.request(method, url).bearer_auth(ADMIN)
}

/// An admin call that must succeed; returns its JSON body.
async fn admin_ok(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut req = admin(client, method.clone(), url.clone());
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{method} {url}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_gives_prompt_503s_and_recovery_keeps_every_acknowledged_write() {
    let Some(mut redis) = TestRedis::start_persistent() else {
        return;
    };
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\nmax_instances = 64\n"
    );
    let gw = TestGateway::start_on_redis(&redis, &["dummy"], &plugins).await;
    let seeded = gw.add_account_with("dummy", json!({}), 64).await;
    let base = gw.url("");
    let c = client();
    for api in [Api::Claude, Api::OpenAi] {
        let o = chat(&c, &base, None, api, false).await;
        assert_eq!(o.status, 200, "{api:?} before the outage: {}", o.body);
    }

    // Acknowledged writes before the outage: accounts (one edited with its version) and a key.
    let mut accounts = vec![seeded];
    for name in ["first", "second"] {
        let v = admin_ok(
            &c,
            reqwest::Method::POST,
            gw.url("/api/accounts"),
            Some(json!({"channel": "dummy", "name": name, "credentials": {"api_key": format!("sk-{name}")}})),
        )
        .await;
        accounts.push(v["id"].as_str().unwrap().to_owned());
    }
    let edited_id = accounts[1].clone();
    let edited = admin_ok(
        &c,
        reqwest::Method::PUT,
        gw.url(&format!("/api/accounts/{edited_id}")),
        Some(json!({"version": 1, "name": "edited", "weight": 3})),
    )
    .await;
    assert_eq!(edited["version"], 2);
    let created = admin_ok(
        &c,
        reqwest::Method::POST,
        gw.url("/api/keys"),
        Some(json!({"name": "main"})),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let mut keys = vec![(created["id"].as_str().unwrap().to_owned(), key.clone())];
    for api in [Api::Claude, Api::OpenAi] {
        let o = chat(&c, &base, Some(&key), api, false).await;
        assert_eq!(o.status, 200, "{api:?} with the key: {}", o.body);
    }

    // Chats in both APIs and admin writes are running when Redis dies.
    let stop = Arc::new(AtomicBool::new(false));
    let load = [Api::Claude, Api::OpenAi].map(|api| spawn_load(base.clone(), key.clone(), api, stop.clone()));
    let writer = spawn_writer(base.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killing = Instant::now();
    tokio::task::block_in_place(|| redis.kill());
    // From here until the restart, no store call can succeed.
    let dead = Instant::now();

    // Every public outcome: these probes, then the loops' (checked together below).
    let mut outcomes = Vec::new();
    let probes = [
        (Api::Claude, reqwest::Method::POST, "/v1/messages"),
        (Api::Claude, reqwest::Method::POST, "/dummy/v1/messages"),
        (Api::Claude, reqwest::Method::POST, "/v1/messages/count_tokens"),
        (Api::OpenAi, reqwest::Method::POST, "/v1/chat/completions"),
        (Api::OpenAi, reqwest::Method::POST, "/dummy/v1/chat/completions"),
        (Api::OpenAi, reqwest::Method::GET, "/v1/models"),
    ];
    for (api, method, path) in probes {
        let body = match api {
            Api::Claude => claude_request("echo", "hi", false),
            Api::OpenAi => json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}),
        };
        let mut req = c.request(method.clone(), gw.url(path)).header("x-api-key", &key);
        if method == reqwest::Method::POST {
            req = req.json(&body);
        }
        let o = send(api, req).await;
        let what = format!("{method} {path} during the outage");
        assert_prompt_503(&o, &what);
        assert_no_internals(&o, &what);
        outcomes.push(o);
    }

    let ready = send(Api::Claude, c.get(gw.url("/readyz"))).await;
    assert_eq!(ready.status, 503, "/readyz during the outage: {}", ready.body);
    assert!(ready.elapsed < PROMPT, "/readyz took {:?}", ready.elapsed);
    let ready: Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(ready["store"], "unavailable");
    let health = c.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "/health is liveness only");

    // Admin calls are refused with 503 (reads too) and change nothing: the delete below must
    // not take effect, and nothing created here may appear after the restart.
    let (key_id, account_id) = (keys[0].0.clone(), edited_id.clone());
    let admin_calls = [
        (
            reqwest::Method::POST,
            "/api/accounts".to_owned(),
            Some(json!({"channel": "dummy", "name": "during-outage"})),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/accounts/{account_id}"),
            Some(json!({"version": 2, "name": "during-outage"})),
        ),
        (
            reqwest::Method::POST,
            "/api/keys".to_owned(),
            Some(json!({"name": "during-outage"})),
        ),
        (reqwest::Method::DELETE, format!("/api/keys/{key_id}"), None),
        (reqwest::Method::GET, "/api/accounts".to_owned(), None),
        (reqwest::Method::GET, "/api/queue".to_owned(), None),
        (
            reqwest::Method::POST,
            "/api/login".to_owned(),
            Some(json!({"password": "not-the-password"})),
        ),
    ];
    for (method, path, body) in admin_calls {
        let mut req = admin(&c, method.clone(), gw.url(&path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let o = send(Api::Claude, req).await;
        assert_prompt_503(&o, &format!("admin {method} {path} during the outage"));
    }

    // Let the loops run through the outage a little longer, then bring Redis back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarting = Instant::now();
    tokio::task::block_in_place(|| redis.restart());
    let restarted = Instant::now();
    let restart_took = restarted - restarting;
    let recovered = loop {
        let o = chat(&c, &base, Some(&key), Api::Claude, false).await;
        if o.status == 200 {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < RECOVERY,
            "no successful chat {RECOVERY:?} after Redis returned: {} {}",
            o.status,
            o.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready = c.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "/readyz once chats succeed again");

    stop.store(true, Ordering::Relaxed);
    for task in load {
        outcomes.extend(task.await.unwrap());
    }
    let written = writer.await.unwrap();

    // Every public request was answered promptly, never with a 500; those that ran entirely
    // inside the outage were all 503s in their API's shape.
    let mut during = [0usize; 2];
    let mut slowest_503 = Duration::ZERO;
    for o in &outcomes {
        let what = format!(
            "{:?} chat started {:?} after the kill",
            o.api,
            o.started.checked_duration_since(dead)
        );
        assert!(
            o.status == 200 || o.status == 503,
            "{what}: {} {}",
            o.status,
            o.body
        );
        assert!(o.elapsed < PROMPT, "{what}: answered after {:?}", o.elapsed);
        if o.status == 503 {
            assert_error_shape(o, &what);
            assert_no_internals(o, &what);
            slowest_503 = slowest_503.max(o.elapsed);
        }
        if o.started >= dead && o.ended() <= restarting {
            assert_prompt_503(o, &what);
            during[usize::from(o.api == Api::OpenAi)] += 1;
        }
    }
    assert!(
        during.iter().all(|n| *n > 0),
        "the request loops did not run during the outage: {during:?}"
    );
    for o in &written.refused {
        assert_prompt_503(o, "an admin write racing the outage");
    }
    assert!(
        !written.refused.is_empty(),
        "the admin writer never ran into the outage"
    );

    // Every acknowledged write is back; at most the one write in flight at the kill is extra.
    accounts.extend(written.accounts.iter().cloned());
    keys.extend(written.keys.iter().cloned());
    let listed = admin_ok(&c, reqwest::Method::GET, gw.url("/api/accounts"), None).await;
    let listed = listed["accounts"].as_array().unwrap();
    for id in &accounts {
        assert!(
            listed.iter().any(|a| a["id"] == id.as_str()),
            "acknowledged account {id} is missing"
        );
    }
    assert!(
        listed.len() <= accounts.len() + 1,
        "unacknowledged accounts appeared: {listed:?}"
    );
    assert!(
        listed.iter().all(|a| a["name"] != "during-outage"),
        "a refused write took effect"
    );
    let edited = listed.iter().find(|a| a["id"] == edited_id.as_str()).unwrap();
    assert_eq!(
        (edited["name"].as_str(), edited["version"].as_u64()),
        (Some("edited"), Some(2))
    );
    let listed = admin_ok(&c, reqwest::Method::GET, gw.url("/api/keys"), None).await;
    let listed = listed["keys"].as_array().unwrap();
    assert!(
        listed.len() <= keys.len() + 1,
        "unacknowledged keys appeared: {listed:?}"
    );
    for (id, k) in &keys {
        assert!(
            listed.iter().any(|l| l["id"] == id.as_str()),
            "acknowledged key {id} is missing"
        );
        let o = chat(&c, &base, Some(k), Api::OpenAi, false).await;
        assert_eq!(o.status, 200, "acknowledged key {id} no longer works: {}", o.body);
    }

    let first_503 = outcomes
        .iter()
        .filter(|o| o.status == 503)
        .map(|o| o.ended().saturating_duration_since(killing))
        .min()
        .unwrap();
    eprintln!(
        "redis outage: first 503 {first_503:?} after the kill, slowest 503 {slowest_503:?}, {} requests inside \
         the outage; {} admin writes acknowledged / {} refused; Redis restart took {restart_took:?}, chats \
         again {recovered:?} after it",
        during.iter().sum::<usize>(),
        written.accounts.len() + written.keys.len(),
        written.refused.len(),
    );
    gw.stop().await;
}

/// A hung Redis (stopped, connections open, no answers) is the case where a missing timeout would
/// hang requests: they must still end in a prompt 503, and service must resume when it thaws.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_redis_gives_prompt_503s_not_hangs_then_service_resumes() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    let gw = TestGateway::start_on_redis(&redis, &["dummy"], &plugins).await;
    let account = gw.add_account_with("dummy", json!({}), 16).await;
    let base = gw.url("");
    let c = client();
    let created = admin_ok(
        &c,
        reqwest::Method::POST,
        gw.url("/api/keys"),
        Some(json!({"name": "k"})),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    for api in [Api::Claude, Api::OpenAi] {
        let o = chat(&c, &base, Some(&key), api, false).await;
        assert_eq!(o.status, 200, "{api:?} before the freeze: {}", o.body);
    }

    redis.pause();
    // All at once: each waits out the store's own timeout, and none may wait longer.
    let probes = [
        (
            Api::Claude,
            chat_request(&c, &base, Some(&key), Api::Claude, false),
        ),
        (
            Api::OpenAi,
            chat_request(&c, &base, Some(&key), Api::OpenAi, true),
        ),
        (
            Api::Claude,
            admin(&c, reqwest::Method::POST, gw.url("/api/accounts")).json(&json!({"channel": "dummy"})),
        ),
        (
            Api::Claude,
            admin(&c, reqwest::Method::POST, gw.url("/api/keys")).json(&json!({})),
        ),
    ];
    let probes = futures::future::join_all(probes.map(|(api, req)| send(api, req))).await;
    let ready = send(Api::Claude, c.get(gw.url("/readyz"))).await;
    let health = send(Api::Claude, c.get(gw.url("/health"))).await;
    redis.resume();
    for (i, o) in probes.iter().enumerate() {
        let what = format!("request {i} to a frozen Redis");
        assert_prompt_503(o, &what);
        // The admin API may tell the operator more; the public API may not.
        if i < 2 {
            assert_no_internals(o, &what);
        }
    }
    assert_eq!(ready.status, 503, "/readyz while frozen: {}", ready.body);
    assert!(ready.elapsed < PROMPT, "/readyz took {:?}", ready.elapsed);
    assert_eq!(health.status, 200, "/health while frozen");

    let thawed = Instant::now();
    loop {
        let o = chat(&c, &base, Some(&key), Api::OpenAi, false).await;
        if o.status == 200 {
            break;
        }
        assert!(
            thawed.elapsed() < RECOVERY,
            "no successful chat {RECOVERY:?} after the thaw: {} {}",
            o.status,
            o.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = thawed.elapsed();
    // Replies to the calls that timed out arrive late; they must not be taken for later answers.
    for _ in 0..5 {
        let got = admin_ok(
            &c,
            reqwest::Method::GET,
            gw.url(&format!("/api/accounts/{account}")),
            None,
        )
        .await;
        assert_eq!(got["id"], account.as_str());
        let o = chat(&c, &base, Some(&key), Api::Claude, false).await;
        assert_eq!(o.status, 200, "{}", o.body);
    }
    let ready = c.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let slowest = probes.iter().map(|o| o.elapsed).max().unwrap();
    eprintln!("frozen redis: 503s within {slowest:?}; chats again {recovered:?} after the thaw");
    gw.stop().await;
}
