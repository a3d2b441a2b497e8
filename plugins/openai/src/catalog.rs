//! The channel's self-description: identity, models from the `models` config key, config schema.

use crate::types::ModelInfo;

pub(crate) const NAME: &str = "openai";
pub(crate) const VERSION: &str = "0.1.0";
pub(crate) const DESCRIPTION: &str =
    "OpenAI and OpenAI-compatible upstreams via the Chat Completions API, authenticated by API key.";

/// Served when the operator does not set `models`.
pub(crate) const DEFAULT_MODELS: &str = "gpt-4o-mini,gpt-4o,gpt-4.1,o3-mini";

/// Parses the `models` config value: comma-separated `id` or `id=upstream-name` entries, the
/// first being the default. An unset or empty value means [`DEFAULT_MODELS`], since a channel
/// without models could never be routed to.
pub(crate) fn models(config: Option<&str>) -> Vec<ModelInfo> {
    let parsed = parse_models(config.unwrap_or(DEFAULT_MODELS));
    if parsed.is_empty() {
        parse_models(DEFAULT_MODELS)
    } else {
        parsed
    }
}

fn parse_models(list: &str) -> Vec<ModelInfo> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(i, entry)| {
            let (id, upstream) = entry.split_once('=').unwrap_or((entry, entry));
            ModelInfo {
                id: id.trim().to_owned(),
                upstream_name: upstream.trim().to_owned(),
                is_default: i == 0,
            }
        })
        .collect()
}

/// The schema in the `{"config": ..., "credentials": ...}` shape the WIT asks for.
pub(crate) fn config_schema_json() -> String {
    serde_json::json!({
        "config": {
            "type": "object",
            "properties": {
                "base_url": {
                    "type": "string",
                    "default": crate::upstream::DEFAULT_BASE_URL,
                    "description": "Base URL of the OpenAI-compatible API, up to and including `/v1`."
                },
                "models": {
                    "type": "string",
                    "default": DEFAULT_MODELS,
                    "description": "Comma-separated models, each `id` or `id=upstream-name`; the first is the default."
                },
                "organization": {
                    "type": "string",
                    "description": "Default `OpenAI-Organization` header for accounts that set none."
                },
                "max_tokens_field": {
                    "type": "string",
                    "enum": ["max_completion_tokens", "max_tokens"],
                    "default": "max_completion_tokens",
                    "description": "Request field for the output limit; `max_tokens` for older compatible servers."
                }
            }
        },
        "credentials": {
            "type": "object",
            "required": ["api_key"],
            "properties": {
                "api_key": { "type": "string", "description": "API key, sent as a bearer token." },
                "base_url": { "type": "string", "description": "Overrides the config `base_url` for this account." },
                "organization": { "type": "string", "description": "Sent as `OpenAI-Organization`." }
            }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(models: &[ModelInfo]) -> Vec<(&str, &str, bool)> {
        models
            .iter()
            .map(|m| (m.id.as_str(), m.upstream_name.as_str(), m.is_default))
            .collect()
    }

    #[test]
    fn defaults_when_unset_or_empty() {
        let expected = vec![
            ("gpt-4o-mini", "gpt-4o-mini", true),
            ("gpt-4o", "gpt-4o", false),
            ("gpt-4.1", "gpt-4.1", false),
            ("o3-mini", "o3-mini", false),
        ];
        assert_eq!(ids(&models(None)), expected);
        assert_eq!(ids(&models(Some(" , "))), expected);
    }

    #[test]
    fn parses_aliases_and_whitespace() {
        let parsed = models(Some(" fast = gpt-4o-mini ,gpt-4.1,, smart=o3 "));
        assert_eq!(
            ids(&parsed),
            vec![
                ("fast", "gpt-4o-mini", true),
                ("gpt-4.1", "gpt-4.1", false),
                ("smart", "o3", false)
            ]
        );
    }

    #[test]
    fn schema_lists_config_and_credentials() -> Result<(), serde_json::Error> {
        let schema: serde_json::Value = serde_json::from_str(&config_schema_json())?;
        for key in ["base_url", "models", "organization", "max_tokens_field"] {
            assert!(schema["config"]["properties"][key].is_object(), "{key}");
        }
        for key in ["api_key", "base_url", "organization"] {
            assert!(schema["credentials"]["properties"][key].is_object(), "{key}");
        }
        assert_eq!(schema["credentials"]["required"], serde_json::json!(["api_key"]));
        Ok(())
    }
}
