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
