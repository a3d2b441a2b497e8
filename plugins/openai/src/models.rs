//! `check-account` and `list-models`: both ask the upstream's `GET /models`.

use gateway_guest::ProviderError;
use serde_json::{Value, json};

use crate::host::{Body, Host};
use crate::types::{Account, ModelInfo};
use crate::upstream::Upstream;

/// Verifies the API key by listing models; returns the `detail-json` for operators.
pub(crate) fn check_account(host: &impl Host, account: &Account) -> Result<String, ProviderError> {
    let ids = model_ids(host, account)?;
    Ok(json!({ "models": ids.len() }).to_string())
}

/// The upstream's models for this account, under their upstream names.
pub(crate) fn list_models(host: &impl Host, account: &Account) -> Result<Vec<ModelInfo>, ProviderError> {
    let models = model_ids(host, account)?.into_iter().map(|id| ModelInfo {
        upstream_name: id.clone(),
        id,
        // The operator's `models` config picks the default, not the upstream's list order.
        is_default: false,
    });
    Ok(models.collect())
}

fn model_ids(host: &impl Host, account: &Account) -> Result<Vec<String>, ProviderError> {
    let upstream = Upstream::resolve(host, account)?;
    let response = upstream.send(host, "GET", "/models", "application/json", None)?;
    let body = response.body.read_all()?;
    let malformed = || ProviderError::Upstream {
        status: 502,
        message: "GET /models did not return a model list".to_owned(),
    };
    let list: Value = serde_json::from_slice(&body).map_err(|_| malformed())?;
    let data = list.get("data").and_then(Value::as_array).ok_or_else(malformed)?;
    Ok(data
        .iter()
        .filter_map(|model| model.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    fn account() -> Account {
        Account {
            credentials_json: r#"{"api_key":"sk-test","base_url":"https://llm.test/v1"}"#.to_owned(),
        }
    }

    const LIST: &str =
        r#"{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"o3","object":"model"}]}"#;

    #[test]
    fn check_account_counts_models() -> Result<(), ProviderError> {
        let host = FakeHost::default();
        host.respond(200, &[("content-type", "application/json")], &[LIST]);
        assert_eq!(check_account(&host, &account())?, r#"{"models":2}"#);
        let request = host.request();
        assert_eq!(
            (request.method, request.url.as_str()),
            ("GET", "https://llm.test/v1/models")
        );
        assert!(request.body.is_empty());
        assert!(
            request
                .headers
                .contains(&("Authorization".into(), "Bearer sk-test".into()))
        );
        Ok(())
    }

    #[test]
    fn list_models_uses_upstream_names() -> Result<(), ProviderError> {
        let host = FakeHost::default();
        host.respond(200, &[], &[LIST]);
        let models = list_models(&host, &account())?;
        let ids: Vec<_> = models
            .iter()
            .map(|m| (m.id.as_str(), m.upstream_name.as_str()))
            .collect();
        assert_eq!(ids, [("gpt-4o", "gpt-4o"), ("o3", "o3")]);
        assert!(models.iter().all(|m| !m.is_default));
        Ok(())
    }

    #[test]
    fn errors_are_classified() {
        let host = FakeHost::default();
        host.respond(
            401,
            &[],
            &[r#"{"error":{"message":"Incorrect API key provided"}}"#],
        );
        assert_eq!(
            check_account(&host, &account()),
            Err(ProviderError::AuthFailed("Incorrect API key provided".into()))
        );
        host.respond(200, &[], &["<html>"]);
        assert!(matches!(
            list_models(&host, &account()),
            Err(ProviderError::Upstream { status: 502, .. })
        ));
    }
}
