//! Test helper: a throwaway `redis-server` on a free loopback port, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set to `1` to skip the Redis tests where `redis-server` cannot be installed.
const SKIP_VAR: &str = "GATEWAY_SKIP_REDIS_TESTS";

pub(crate) struct TestRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl TestRedis {
    /// Starts a server, or returns `None` when the Redis tests are skipped by the environment.
    /// Panics with the fix when `redis-server` is missing.
    #[expect(
        clippy::print_stderr,
        reason = "a skipped suite must say so in the test output"
    )]
    pub(crate) fn start() -> Option<TestRedis> {
        if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
            eprintln!("skipping Redis store tests: {SKIP_VAR}=1");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // Ports are picked by binding :0 and releasing; another process may take one first.
        for _ in 0..10 {
            let port = free_port();
            if let Some(child) = spawn(port, &dir) {
                return Some(TestRedis {
                    port,
                    child: Some(child),
                    dir,
                });
            }
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (its data is gone: it never persists).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub(crate) fn restart(&mut self) {
        self.kill();
        for _ in 0..20 {
            if let Some(child) = spawn(self.port, &self.dir) {
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

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Spawns a server on `port` and waits until *it* answers; `None` if it could not bind.
fn spawn(port: u16, dir: &tempfile::TempDir) -> Option<Child> {
    let mut child = match Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not on PATH: install redis-server (e.g. `apt-get install redis-server`) \
             to run the Redis store tests, or set {SKIP_VAR}=1 to skip them"
        ),
        Err(e) => panic!("cannot spawn redis-server: {e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None; // it exited: most likely the port was taken
        }
        // Checking the pid makes sure we talk to our server, not one that owned the port.
        if server_pid(port) == Some(child.id()) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `process_id` from `INFO server` on `127.0.0.1:port`, over raw RESP.
fn server_pid(port: u16) -> Option<u32> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    conn.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((_, rest)) = text.split_once("process_id:")
            && let Some((pid, _)) = rest.split_once("\r\n")
        {
            return pid.parse().ok();
        }
    }
    None
}
