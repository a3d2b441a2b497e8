//! The real binary on the embedded store: kill -9 loses no acknowledged write, and no secret is logged.
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "tests report figures on stderr and fail loudly"
)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "durability-admin-token-7Hq2vX9c";
/// Startup compiles the plugin when the shared cache is cold; a loaded machine is slow at that.
const STARTUP: Duration = Duration::from_secs(120);

/// Where the e2e harness keeps compiled components, so each compiles once per checkout.
fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache")
}

/// Writes a config serving the bundled dummy plugin from an embedded store in `dir`.
fn write_config(dir: &Path) -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/dummy.wasm");
    assert!(
        built.is_file(),
        "plugin component {} is missing: run `make plugins` first",
        built.display()
    );
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(&built, plugins.join("dummy.wasm")).unwrap();
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
request_timeout_secs = 30
[store]
data_dir = "data"
[admin]
token = "{ADMIN}"
[runtime]
plugin_dir = "plugins"
cache_dir = "{cache}"
watch = false
[plugins.dummy]
component = "dummy.wasm"
"#,
        cache = shared_cache_dir().display(),
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One run of the `gateway` binary, its stdout and stderr collected line by line.
struct Gateway {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// Copies lines from `pipe` into `output`; the listening address goes to `addr` as well.
fn collect(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    addr: mpsc::Sender<SocketAddr>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            if let Some(a) = text
                .trim_end()
                .strip_prefix("gateway listening on http://")
                .and_then(|a| a.parse().ok())
            {
                let _ = addr.send(a);
            }
            output.lock().unwrap().push_str(&text);
            line.clear();
        }
    })
}

impl Gateway {
    /// Starts the binary on `config` with `RUST_LOG=log` and waits until it listens.
    fn start(config: &Path, log: &str) -> Gateway {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
        cmd.arg("--config")
            .arg(config)
            .env_remove("GATEWAY_CONFIG")
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The config under test is the file, not whatever overrides the caller's shell holds.
        for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEWAY__")) {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            collect(child.stdout.take().unwrap(), output.clone(), tx.clone()),
            collect(child.stderr.take().unwrap(), output.clone(), tx),
        ];
        let deadline = Instant::now() + STARTUP;
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = child.try_wait().unwrap() {
                        panic!(
                            "gateway exited ({status}) before listening:\n{}",
                            output.lock().unwrap()
                        );
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "gateway did not listen within {STARTUP:?}:\n{}",
                        output.lock().unwrap()
                    );
                }
            }
        };
        Gateway {
            child,
            base: format!("http://{addr}"),
            output,
            readers,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs. Returns everything the
    /// process wrote.
    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The pipes close with the process, so the readers finish.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        std::mem::take(&mut *self.output.lock().unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An admin call; returns the status and the JSON body (`null` when there is none).
async fn admin(
    c: &reqwest::Client,
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c.request(method, gw.url(path)).bearer_auth(ADMIN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A Claude chat through the dummy channel with `key`; returns the status and the body.
async fn chat(c: &reqwest::Client, gw: &Gateway, key: &str) -> (u16, String) {
    let resp = c
        .post(gw.url("/dummy/v1/messages"))
        .header("x-api-key", key)
        .json(&json!({"model": "echo", "max_tokens": 64, "messages": [{"role": "user", "content": "still here?"}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// An account as it must be found after a restart.
struct ExpectedAccount {
    id: String,
    name: String,
    weight: u64,
    version: u64,
    credential: String,
}

/// Everything acknowledged so far must be served by `gw`.
async fn assert_state(
    c: &reqwest::Client,
    gw: &Gateway,
    accounts: &[ExpectedAccount],
    keys: &[(String, String)],
) {
    let (status, listed) = admin(c, gw, reqwest::Method::GET, "/api/accounts", None).await;
    assert_eq!(status, 200);
    let listed = listed["accounts"].as_array().unwrap();
    assert_eq!(listed.len(), accounts.len(), "accounts after restart: {listed:?}");
    for want in accounts {
        let got = listed
            .iter()
            .find(|a| a["id"] == want.id.as_str())
            .unwrap_or_else(|| panic!("acknowledged account {} is missing: {listed:?}", want.id));
        assert_eq!(got["name"], want.name.as_str(), "{got}");
        assert_eq!(got["weight"], want.weight, "{got}");
        assert_eq!(got["version"], want.version, "{got}");
        // Credentials are only shown redacted: the prefix and the length identify the value.
        let shown = format!(
            "{}…({} chars)",
            &want.credential[..4],
            want.credential.chars().count()
        );
        assert_eq!(got["credentials"]["api_key"], shown.as_str(), "{got}");
    }
    let (status, listed) = admin(c, gw, reqwest::Method::GET, "/api/keys", None).await;
    assert_eq!(status, 200);
    let listed = listed["keys"].as_array().unwrap();
    assert_eq!(listed.len(), keys.len(), "keys after restart: {listed:?}");
    for (id, key) in keys {
        assert!(
            listed.iter().any(|k| k["id"] == id.as_str()),
            "acknowledged key {id} is missing: {listed:?}"
        );
        let (status, body) = chat(c, gw, key).await;
        assert_eq!(status, 200, "key {id} after restart: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "message", "{body}");
    }
    if !keys.is_empty() {
        let (status, _) = chat(c, gw, "gwk-not-a-key-of-this-gateway").await;
        assert_eq!(status, 401, "keys are enforced after restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_admin_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let c = client();
    let mut accounts: Vec<ExpectedAccount> = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut restarts = Vec::new();
    for cycle in 0..3u64 {
        let started = Instant::now();
        let gw = Gateway::start(&config, "warn");
        restarts.push(started.elapsed());
        assert_state(&c, &gw, &accounts, &keys).await;

        // Three writes per cycle; which one is last (answered just before the kill) varies:
        // an account edit, a key creation, then an account edit after a key creation.
        let steps: &[&str] = match cycle {
            0 => &["account", "key", "edit"],
            1 => &["account", "edit", "key"],
            _ => &["key", "account", "edit"],
        };
        for step in steps {
            match *step {
                "account" => {
                    let credential = format!("sk-durable-{cycle}-{}", "x".repeat(cycle as usize));
                    let (status, v) = admin(
                        &c,
                        &gw,
                        reqwest::Method::POST,
                        "/api/accounts",
                        Some(json!({"channel": "dummy", "name": format!("acct-{cycle}"), "credentials": {"api_key": credential}})),
                    )
                    .await;
                    assert_eq!(status, 201, "{v}");
                    accounts.push(ExpectedAccount {
                        id: v["id"].as_str().unwrap().to_owned(),
                        name: format!("acct-{cycle}"),
                        weight: 1,
                        version: v["version"].as_u64().unwrap(),
                        credential,
                    });
                }
                "edit" => {
                    let a = accounts.last_mut().unwrap();
                    let (name, weight) = (format!("edited-{cycle}"), cycle + 2);
                    let (status, v) = admin(
                        &c,
                        &gw,
                        reqwest::Method::PUT,
                        &format!("/api/accounts/{}", a.id),
                        Some(json!({"version": a.version, "name": name, "weight": weight})),
                    )
                    .await;
                    assert_eq!(status, 200, "{v}");
                    assert_eq!(v["version"], a.version + 1);
                    (a.name, a.weight, a.version) = (name, weight, a.version + 1);
                }
                _ => {
                    let (status, v) = admin(
                        &c,
                        &gw,
                        reqwest::Method::POST,
                        "/api/keys",
                        Some(json!({"name": format!("key-{cycle}")})),
                    )
                    .await;
                    assert_eq!(status, 201, "{v}");
                    keys.push((
                        v["id"].as_str().unwrap().to_owned(),
                        v["key"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        // At once after the last acknowledgement: no graceful shutdown, no chance to flush.
        gw.kill();
    }
    let started = Instant::now();
    let gw = Gateway::start(&config, "warn");
    restarts.push(started.elapsed());
    assert_state(&c, &gw, &accounts, &keys).await;
    eprintln!(
        "kill -9 durability: {} accounts and {} keys survived 3 kills; starts took {restarts:?}",
        accounts.len(),
        keys.len()
    );
    gw.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_even_at_debug() {
    const CREDENTIAL: &str = "cred-Zq81LrWm5TgH0pXcV7bN";
    const EDITED_CREDENTIAL: &str = "cred-Yk42PsDn8QfJ3wEaU6cM";
    const WRONG_KEY: &str = "gwk-WrongKeyPresentedByAClient0123456789ab";
    const WRONG_TOKEN: &str = "wrong-admin-token-Ha7Kd93LsQ";
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let c = client();
    let gw = Gateway::start(&config, "debug");

    let (status, account) = admin(
        &c,
        &gw,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({"channel": "dummy", "name": "logged", "credentials": {"api_key": CREDENTIAL}})),
    )
    .await;
    assert_eq!(status, 201);
    let id = account["id"].as_str().unwrap().to_owned();
    let (status, _) = admin(
        &c,
        &gw,
        reqwest::Method::PUT,
        &format!("/api/accounts/{id}"),
        Some(json!({"version": 1, "credentials": {"api_key": EDITED_CREDENTIAL}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, created) = admin(
        &c,
        &gw,
        reqwest::Method::POST,
        "/api/keys",
        Some(json!({"name": "logged"})),
    )
    .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap().to_owned();

    let (status, body) = chat(&c, &gw, &key).await;
    assert_eq!(status, 200, "{body}");
    let streamed = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    streamed.text().await.unwrap();
    assert_eq!(chat(&c, &gw, WRONG_KEY).await.0, 401);
    for (header, value) in [
        ("authorization", format!("Bearer {WRONG_TOKEN}")),
        ("x-admin-token", WRONG_TOKEN.to_owned()),
    ] {
        let resp = c
            .get(gw.url("/api/accounts"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    for path in ["check", "usage"] {
        let (status, v) = admin(
            &c,
            &gw,
            reqwest::Method::GET,
            &format!("/api/accounts/{id}/{path}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{path}: {v}");
    }
    for path in ["/api/accounts", "/api/keys", "/api/queue"] {
        assert_eq!(admin(&c, &gw, reqwest::Method::GET, path, None).await.0, 200);
    }

    let output = gw.kill();
    // The filter really was at debug, or the check below would prove nothing.
    assert!(output.contains(" DEBUG "), "no debug lines captured:\n{output}");
    assert!(
        output.lines().filter(|l| l.contains("request")).count() >= 12,
        "request lines missing:\n{output}"
    );
    // Whole secrets, and the parts of them that redacted views never show.
    let secrets = [
        ("credential", CREDENTIAL, &CREDENTIAL[4..]),
        ("edited credential", EDITED_CREDENTIAL, &EDITED_CREDENTIAL[4..]),
        ("API key", key.as_str(), &key[8..key.len() - 4]),
        ("admin token", ADMIN, &ADMIN[4..]),
        ("presented wrong key", WRONG_KEY, &WRONG_KEY[8..]),
        ("presented wrong admin token", WRONG_TOKEN, &WRONG_TOKEN[4..]),
    ];
    for (what, secret, hidden) in secrets {
        for line in output.lines() {
            assert!(
                !line.contains(secret) && !line.contains(hidden),
                "the {what} is in a log line: {line}"
            );
        }
    }
    eprintln!(
        "log hygiene: {} lines ({} bytes) at debug, no secret in any",
        output.lines().count(),
        output.len()
    );
}
