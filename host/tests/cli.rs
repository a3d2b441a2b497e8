//! The `gateway` binary refuses bad configs with one clear message and a non-zero exit.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::Path;
use std::process::Command;

fn run_with(config: Option<&str>, dir: &Path) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.arg("--check")
        .env_remove("GATEWAY_CONFIG")
        .env("RUST_LOG", "off");
    match config {
        Some(text) => {
            let path = dir.join("gateway.toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        None => {
            cmd.arg("--config").arg(dir.join("absent.toml"));
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr)
}

#[test]
fn malformed_configs_exit_non_zero_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"not wasm at all").unwrap();
    let cases: &[(Option<&str>, &str)] = &[
        (None, "absent.toml"),
        (Some("[server\nlisten ="), "not valid TOML"),
        (Some("[server]\nlisten = \"127.0.0.1:0\"\nport = 3\n"), "port"),
        (Some("[server]\nlisten = \"everywhere\"\n"), "server.listen"),
        (
            Some("[plugins.x]\ncomponent = \"missing.wasm\"\n"),
            "missing.wasm",
        ),
        (
            Some(
                "[runtime]\nplugin_dir = \".\"\n[plugins.x]\ncomponent = \"garbage.wasm\"\n[plugins.x.grants]\nallowed_hosts = [\"gopher://a\"]\n",
            ),
            "plugins.x.grants.allowed_hosts[0]",
        ),
        (
            Some(
                "[runtime]\nplugin_dir = \".\"\n[plugins.x]\ncomponent = \"garbage.wasm\"\n[plugins.x.grants]\ncpu = 5\n",
            ),
            "cpu",
        ),
        (
            Some(
                "[runtime]\nplugin_dir = \".\"\n[plugins.x]\ncomponent = \"garbage.wasm\"\n[plugins.x.config]\nkey = \"env::GATEWAY_TEST_UNSET_SECRET\"\n",
            ),
            "GATEWAY_TEST_UNSET_SECRET",
        ),
        (
            Some(
                "[runtime]\nplugin_dir = \".\"\n[store]\ndata_dir = \"data\"\n[plugins.x]\ncomponent = \"garbage.wasm\"\n",
            ),
            "not a valid component",
        ),
    ];
    for (config, needle) in cases {
        let (ok, stderr) = run_with(*config, dir.path());
        assert!(!ok, "config {config:?} was accepted");
        assert!(stderr.contains(needle), "expected `{needle}` in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "panic for {config:?}:\n{stderr}");
    }
}

/// Runs `gateway --reset-admin-password` on `config`; returns (success, stdout, stderr).
fn reset_password(config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(config)
        .arg("--reset-admin-password")
        .env_remove("GATEWAY_CONFIG")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The password line of the reset's announcement.
fn printed_password(stdout: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.contains("shown only now"));
    lines.nth(1).expect("a password line").trim().to_owned()
}

#[tokio::test]
async fn reset_admin_password_prints_a_new_password_that_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[store]\ndata_dir = \"data\"\n").unwrap();
    let (ok, first, stderr) = reset_password(&config);
    assert!(ok, "{stderr}");
    let (ok, second, stderr) = reset_password(&config);
    assert!(ok, "{stderr}");
    let (first, second) = (printed_password(&first), printed_password(&second));
    assert_eq!(second.len(), 24);
    assert_ne!(first, second);

    // Only the last one logs in, against what the gateway itself would read.
    let cfg = gateway_host::Config::load(&config).unwrap();
    let store = gateway_host::store::Store::open(&cfg.store).await.unwrap();
    let (auth, generated) = gateway_host::admin_auth::AdminAuth::init(&cfg.admin, &store)
        .await
        .unwrap();
    assert_eq!(generated, None, "a reset password is already stored");
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    assert!(auth.login(&second, ip).await.is_ok());
    assert!(auth.login(&first, ip).await.is_err());
    drop((auth, store));

    // With admin.password in the config, the configured one wins: the reset refuses.
    std::fs::write(
        &config,
        "[store]\ndata_dir = \"data\"\n[admin]\npassword = \"a configured password\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = reset_password(&config);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("config file"), "{stderr}");
}
