//! Test support (the host's own tests, and `gateway-tests` through the `test-support` feature):
//! a throwaway `redis-server` on a free loopback port.

use std::time::Duration;

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
