//! Test harness: a real gateway on `127.0.0.1:0` with real components, and fake upstreams.

pub mod fake_openai;
pub mod load;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_host::store::Account;
use gateway_host::{App, Config, Server};

/// The throwaway `redis-server` of the host's own store tests, shared with the e2e suite.
pub use gateway_host::test_redis::TestRedis;

/// Where `make plugins` puts the built components.
pub fn plugin_build_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins")
}

/// Path of a built component, failing fast with the fix when it is missing.
pub fn wasm(name: &str) -> PathBuf {
    let path = plugin_build_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "plugin component {} is missing: run `make plugins` first",
        path.display()
    );
    path
}

/// A running gateway and the temporary directory it lives in.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub app: App,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The admin token every test gateway is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Grants that let a plugin reach anything on loopback (fake upstreams).
pub const LOOPBACK_GRANTS: &str = r#"allowed_hosts = ["http://127.0.0.1:*", "ws://127.0.0.1:*"]"#;

impl TestGateway {
    /// Starts a gateway. `plugins` is TOML appended to the config; `{dir}` in it is replaced
    /// by the gateway's plugin directory. Components named in `components` are copied there
    /// first (as `<name>.wasm`), so tests can replace them without touching the build output.
    pub async fn start(components: &[&str], plugins: &str) -> TestGateway {
        Self::start_on(None, components, plugins, &[]).await
    }

    /// Like [`TestGateway::start`], with `GATEWAY__…` overrides and `env::` secrets from `env`.
    pub async fn start_with_env(components: &[&str], plugins: &str, env: &[(&str, &str)]) -> TestGateway {
        Self::start_on(None, components, plugins, env).await
    }

    /// The shared setup of [`TestGateway::start`] and [`TestGateway::start_on_redis`].
    async fn start_on(
        redis_url: Option<&str>,
        components: &[&str],
        plugins: &str,
        env: &[(&str, &str)],
    ) -> TestGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugin_dir).expect("plugin dir");
        for name in components {
            std::fs::copy(wasm(name), plugin_dir.join(format!("{name}.wasm"))).expect("copy component");
        }
        let redis = redis_url
            .map(|u| format!("redis_url = \"{u}\""))
            .unwrap_or_default();
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:0"
request_timeout_secs = 30
shutdown_grace_secs = 5
keepalive_secs = 1
[store]
data_dir = "data"
{redis}
[admin]
token = "{ADMIN_TOKEN}"
[runtime]
plugin_dir = "plugins"
cache_dir = "{cache}"
max_total_instances = 64
{plugins}
"#,
            cache = shared_cache_dir().display(),
        );
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = Config::parse(&text, dir.path(), &env).expect("test config is valid");
        Self::start_with(config, dir).await
    }

    pub async fn start_with(config: Config, dir: tempfile::TempDir) -> TestGateway {
        let app = App::build(config).await.expect("gateway starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = Server::from_listener(app.clone(), listener);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = server
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestGateway {
            addr,
            app,
            dir,
            shutdown: Some(tx),
            server: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Adds an enabled account to `channel` and returns its id.
    pub async fn add_account(&self, channel: &str, credentials: serde_json::Value) -> String {
        self.add_account_with(channel, credentials, 4).await
    }

    /// Adds an enabled account with a given max in-flight and returns its id.
    pub async fn add_account_with(
        &self,
        channel: &str,
        credentials: serde_json::Value,
        max_inflight: u32,
    ) -> String {
        let id = format!("acc-{}", rand_suffix());
        let serde_json::Value::Object(credentials) = credentials else {
            panic!("credentials must be an object")
        };
        self.app
            .store()
            .put_account(Account {
                id: id.clone(),
                channel: channel.into(),
                name: id.clone(),
                credentials,
                enabled: true,
                weight: 1,
                max_inflight,
                version: 0,
            })
            .await
            .expect("account stored");
        id
    }

    /// A request to an admin route, authenticated with the test admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .header("x-admin-token", ADMIN_TOKEN)
    }

    /// `GET path` with the admin token; asserts 200 and returns the JSON body.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let resp = self
            .admin(reqwest::Method::GET, path)
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.expect("JSON body")
    }

    /// Value of one Prometheus sample, e.g. `gateway_plugin_traps_total{kind="trap",plugin="hostile"}`
    /// (labels in the encoder's alphabetical order); 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }
}

/// Compiled-component cache shared by all tests in a run, so each component compiles once.
fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A Claude Messages request body with one user message.
pub fn claude_request(model: &str, text: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// Parses an SSE body into `(event, data)` pairs.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .filter_map(|chunk| {
            let mut event = String::new();
            let mut data = String::new();
            for line in chunk.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            serde_json::from_str(&data).ok().map(|d| (event, d))
        })
        .collect()
}

/// Concatenated `text_delta` texts of a Claude SSE body.
pub fn sse_text(body: &str) -> String {
    sse_events(body)
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// A fake upstream: an axum router served on `127.0.0.1:0` until dropped.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    pub async fn start(router: axum::Router) -> FakeUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeUpstream { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Shared counter for fakes that record hits.
pub type Hits = Arc<std::sync::atomic::AtomicUsize>;

impl TestGateway {
    /// Like [`TestGateway::start`], but the gateway keeps its state in `redis`; start several
    /// on one `TestRedis` to test instances sharing a store.
    pub async fn start_on_redis(redis: &TestRedis, components: &[&str], plugins: &str) -> TestGateway {
        Self::start_on(Some(&redis.url()), components, plugins, &[]).await
    }
}

/// Polls `check` every 20 ms until it holds, failing the test after `within`; returns how long
/// it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "not true within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}
