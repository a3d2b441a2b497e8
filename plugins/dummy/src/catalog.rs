//! The dummy's static self-description: identity, models, config schema, account answers.

use crate::types::ModelInfo;

pub(crate) const NAME: &str = "dummy";

/// The `v2` feature builds a distinguishable second version for hot-swap tests.
pub(crate) const VERSION: &str = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };

pub(crate) const DESCRIPTION: &str =
    "Test translator: the requested model selects a scripted behaviour. Not for production.";

/// Every behaviour, by model id. Unknown ids behave like `echo`, the default.
pub(crate) const MODEL_IDS: &[&str] = &[
    "echo",
    "version",
    "http",
    "by-account",
    "ws",
    "kv",
    "persist",
    "account",
    "config",
    "tools",
    "thinking",
    "error-auth",
    "error-rate",
    "error-quota",
    "error-bad",
    "error-model",
    "error-upstream",
    "error-transient",
    "error-midstream",
    "fetch",
    "log",
];

pub(crate) const DEFAULT_MODEL: &str = "echo";

pub(crate) fn models() -> Vec<ModelInfo> {
    MODEL_IDS
        .iter()
        .map(|id| ModelInfo {
            id: (*id).to_owned(),
            is_default: *id == DEFAULT_MODEL,
        })
        .collect()
}

/// The schema in the `{"config": ..., "credentials": ...}` shape the WIT asks for.
pub(crate) fn config_schema_json() -> String {
    serde_json::json!({
        "config": {
            "type": "object",
            "properties": {
                "upstream_url": {
                    "type": "string",
                    "description": "Base URL of the SSE test upstream (model `http`)."
                },
                "ws_url": {
                    "type": "string",
                    "description": "URL of the WebSocket test upstream (model `ws`)."
                }
            }
        },
        "credentials": { "type": "object" }
    })
    .to_string()
}

pub(crate) const IDENTITY: &str = "dummy@example.test";
pub(crate) const CHECK_DETAIL_JSON: &str = r#"{"ok":true}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) limit: Option<u64>,
    pub(crate) used: Option<u64>,
    pub(crate) remaining: Option<u64>,
    pub(crate) reset_at_ms: Option<u64>,
}

pub(crate) const QUOTA: Quota = Quota {
    limit: Some(100),
    used: Some(1),
    remaining: Some(99),
    reset_at_ms: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_default_model() {
        let models = models();
        assert_eq!(models.len(), MODEL_IDS.len());
        let defaults: Vec<_> = models.iter().filter(|m| m.is_default).collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].id, "echo");
    }

    #[test]
    fn schema_lists_config_keys() -> Result<(), serde_json::Error> {
        let schema: serde_json::Value = serde_json::from_str(&config_schema_json())?;
        let props = &schema["config"]["properties"];
        assert!(props["upstream_url"].is_object());
        assert!(props["ws_url"].is_object());
        Ok(())
    }

    #[test]
    fn version_follows_feature() {
        let expected = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };
        assert_eq!(VERSION, expected);
    }
}
