use std::collections::HashMap;
use std::path::Path;

use super::*;

fn dir_with_component() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.wasm"), b"\0asm").unwrap();
    dir
}

fn parse(text: &str, base: &Path, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::parse(text, base, &env)
}

fn errors(r: Result<Config, ConfigError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    }
}

const PLUGIN: &str = r#"
[runtime]
plugin_dir = "."
[plugins.echo]
component = "p.wasm"
[plugins.echo.grants]
allowed_hosts = ["https://api.example.com", "http://127.0.0.1:*", "wss://*.example.com:8443"]
memory_mb = 32
[plugins.echo.config]
base_url = "https://api.example.com"
cookie = "env::ECHO_COOKIE"
"#;

#[test]
fn defaults_apply_to_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = parse("", dir.path(), &[]).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store.data_dir, dir.path().join("data"));
    assert!(c.plugins.is_empty());
}

#[test]
fn resolves_paths_against_the_config_dir_and_secrets_from_env() {
    let dir = dir_with_component();
    let c = parse(PLUGIN, dir.path(), &[("ECHO_COOKIE", "s3cret")]).unwrap();
    let p = &c.plugins["echo"];
    assert_eq!(p.component, dir.path().join("./p.wasm"));
    assert_eq!(p.config["cookie"], "s3cret");
    assert_eq!(p.grants.memory_bytes, 32 << 20);
    assert!(p.grants.allows("https", "api.example.com", 443));
    assert!(!p.grants.allows("https", "api.example.com", 8443));
    assert!(p.grants.allows("http", "127.0.0.1", 5555));
    assert!(!p.grants.allows("http", "127.0.0.2", 5555));
    assert!(p.grants.allows("wss", "a.b.example.com", 8443));
    assert!(!p.grants.allows("wss", "example.com", 8443));
    assert!(!p.grants.allows("wss", "evilexample.com", 8443));
}

#[test]
fn missing_secret_names_the_key_and_the_variable() {
    let dir = dir_with_component();
    let e = errors(parse(PLUGIN, dir.path(), &[]));
    assert!(
        e.contains("plugins.echo.config.cookie") && e.contains("ECHO_COOKIE"),
        "{e}"
    );
}

#[test]
fn env_overrides_win_over_the_file() {
    let dir = dir_with_component();
    let c = parse(
        PLUGIN,
        dir.path(),
        &[
            ("ECHO_COOKIE", "x"),
            ("GATEWAY__SERVER__LISTEN", "0.0.0.0:9000"),
            ("GATEWAY__PLUGINS__ECHO__GRANTS__MEMORY_MB", "16"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.plugins["echo"].grants.memory_bytes, 16 << 20);
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let dir = dir_with_component();
    let e = errors(parse(
        "[server]\nlisten = \"127.0.0.1:1\"\nlsiten = 3\n",
        dir.path(),
        &[],
    ));
    assert!(e.contains("lsiten"), "{e}");
    let e = errors(parse(
        &PLUGIN.replace("memory_mb = 32", "memory_mb = 32\nnetwork = true"),
        dir.path(),
        &[("ECHO_COOKIE", "x")],
    ));
    assert!(e.contains("network"), "{e}");
}

#[test]
fn all_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[server]
listen = "nowhere"
[plugins.Bad_Name]
component = "missing.wasm"
[plugins.Bad_Name.grants]
allowed_hosts = ["ftp://x", "https://a.com/path", "https://h:99999"]
memory_mb = 0
"#;
    let e = errors(parse(text, dir.path(), &[]));
    for needle in [
        "server.listen",
        "plugins.Bad_Name:",
        "missing.wasm",
        "allowed_hosts[0]",
        "allowed_hosts[1]",
        "allowed_hosts[2]",
        "memory_mb",
    ] {
        assert!(e.contains(needle), "missing `{needle}` in:\n{e}");
    }
}

#[test]
fn syntax_errors_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        parse("[server\nlisten=", dir.path(), &[]),
        Err(ConfigError::Syntax(_))
    ));
}

#[test]
fn host_patterns_parse_ipv6_and_default_ports() {
    let p = HostPattern::parse("http://[::1]:8080").unwrap();
    assert!(p.matches("http", "[::1]", 8080));
    let p = HostPattern::parse("https://example.com").unwrap();
    assert!(p.matches("https", "EXAMPLE.com", 443));
    assert!(!p.matches("http", "example.com", 443));
    assert!(HostPattern::parse("https://user@example.com").is_err());
    assert!(HostPattern::parse("example.com").is_err());
}

#[test]
fn a_bare_config_file_name_resolves_against_the_working_directory_absolutely() {
    // `gateway --config gateway.toml`: the parent is the empty path, which must not leave the
    // data and cache directories relative (wasmtime's cache refuses relative paths).
    for path in ["gateway.toml", "./gateway.toml", "config/gateway.toml"] {
        let dir = super::config_dir(Path::new(path));
        assert!(dir.is_absolute(), "{path} gave {}", dir.display());
    }
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        super::config_dir(Path::new("gateway.toml")),
        std::fs::canonicalize(cwd).unwrap()
    );
}
