//! Test harness: a real gateway on `127.0.0.1:0` with real components, and fake upstreams.

pub mod fake_openai;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_host::store::Account;
use gateway_host::{App, Config, Server};

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

/// A throwaway `redis-server` on a free loopback port, killed on drop. By default it never
/// persists, so a restart comes back empty; [`TestRedis::start_persistent`] keeps an fsynced
/// append-only file instead. Its methods block briefly (they wait for the server to answer).
pub struct TestRedis {
    port: u16,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    persistent: bool,
}

impl TestRedis {
    /// Starts a server; `None` (with a note on stderr) when `GATEWAY_SKIP_REDIS_TESTS=1`, so a
    /// test can return early. Panics with the fix when `redis-server` is not installed.
    pub fn start() -> Option<TestRedis> {
        Self::start_with(false)
    }

    /// Like [`TestRedis::start`], but every write is appended to a file and fsynced before Redis
    /// acknowledges it (`appendfsync always`), so acknowledged writes survive a kill and restart.
    pub fn start_persistent() -> Option<TestRedis> {
        Self::start_with(true)
    }

    #[expect(clippy::print_stderr, reason = "a skip must show in the test output")]
    fn start_with(persistent: bool) -> Option<TestRedis> {
        if std::env::var("GATEWAY_SKIP_REDIS_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("skipping a Redis test: GATEWAY_SKIP_REDIS_TESTS=1");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // Ports are picked by binding :0 and releasing; another process may take one first.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            if let Some(child) = spawn_redis(port, &dir, persistent) {
                return Some(TestRedis {
                    port,
                    child: Some(child),
                    dir,
                    persistent,
                });
            }
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server, as an outage would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP), like a hung host: connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT); it then serves what was sent meanwhile.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Starts the server again on the same port and directory: empty, unless it is persistent
    /// (then it reloads its append-only file before answering).
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..20 {
            if let Some(child) = spawn_redis(self.port, &self.dir, self.persistent) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `redis-server` on `port` and waits until *it* answers; `None` if it could not bind.
fn spawn_redis(port: u16, dir: &tempfile::TempDir, persistent: bool) -> Option<std::process::Child> {
    use std::process::{Command, Stdio};
    // No RDB snapshots either way: with persistence the append-only file alone holds the data.
    let persistence: &[&str] = if persistent {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(persistence)
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not on PATH: install redis-server (e.g. `apt-get install redis-server`) \
             to run the Redis tests, or set GATEWAY_SKIP_REDIS_TESTS=1 to skip them"
        ),
        Err(e) => panic!("cannot spawn redis-server: {e}"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None; // it exited: most likely the port was taken
        }
        // Checking the pid makes sure we talk to our server, not one that owned the port.
        if redis_pid(port) == Some(child.id()) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `process_id` from `INFO server` on `127.0.0.1:port`, over raw RESP.
fn redis_pid(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    conn.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((_, rest)) = text.split_once("process_id:")
            && let Some((pid, _)) = rest.split_once("\r\n")
        {
            return pid.parse().ok();
        }
    }
}
