//! The hostile translator's static self-description.

pub(crate) const NAME: &str = "hostile";
pub(crate) const VERSION: &str = "1.0.0";
pub(crate) const DESCRIPTION: &str =
    "Test-only translator whose models attack the host sandbox. Never deploy it.";

pub(crate) const MODEL_IDS: &[&str] = &[
    "ok",
    "loop",
    "loop-stream",
    "membomb",
    "trap",
    "forbidden",
    "giant-body",
    "giant-output",
    "kvflood",
];

pub(crate) const DEFAULT_MODEL: &str = "ok";

/// In the `{"config": ..., "credentials": ...}` shape the WIT asks for.
pub(crate) const CONFIG_SCHEMA_JSON: &str = r#"{"config":{"type":"object","properties":{"upstream_url":{"type":"string"},"forbidden_url":{"type":"string"}}},"credentials":{"type":"object"}}"#;
