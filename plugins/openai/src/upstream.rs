//! Where and how to reach the upstream: base URL, API key, headers, and non-2xx classification.

use gateway_guest::ProviderError;
use serde_json::Value;

use crate::classify;
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::types::Account;

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// One account's view of the upstream, resolved from its credentials and the plugin config.
/// Deliberately not `Debug`: it holds the API key, which must never reach a log.
pub(crate) struct Upstream {
    /// Without a trailing `/`, so paths append cleanly.
    pub(crate) base_url: String,
    api_key: String,
    organization: Option<String>,
}

impl Upstream {
    /// Account credentials win over the plugin config, so one channel can serve accounts of
    /// several compatible servers or organizations.
    pub(crate) fn resolve(host: &impl Host, account: &Account) -> Result<Self, ProviderError> {
        let credentials: Value = serde_json::from_str(&account.credentials_json)
            .map_err(|_| ProviderError::AuthFailed("account credentials are not valid JSON".to_owned()))?;
        let credential = |key| non_empty(credentials.get(key).and_then(Value::as_str));
        let config = |key| non_empty(host.config(key).as_deref());
        let api_key = credential("api_key")
            .ok_or_else(|| ProviderError::AuthFailed("account has no api_key".to_owned()))?;
        let base_url = credential("base_url")
            .or_else(|| config("base_url"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            organization: credential("organization").or_else(|| config("organization")),
        })
    }

    /// Sends `method {base}{path}` (with a JSON body if given) and returns the response head if
    /// the status is 2xx; otherwise reads the error body and classifies it.
    pub(crate) fn send<H: Host>(
        &self,
        host: &H,
        method: &'static str,
        path: &str,
        accept: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<HttpResponse<H::Body>, ProviderError> {
        let mut headers = vec![
            ("Authorization".to_owned(), format!("Bearer {}", self.api_key)),
            ("Accept".to_owned(), accept.to_owned()),
        ];
        if json_body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        if let Some(organization) = &self.organization {
            headers.push(("OpenAI-Organization".to_owned(), organization.clone()));
        }
        let request = HttpRequest {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body: json_body.unwrap_or_default(),
            // A redirect would carry the API key wherever the upstream points; an API that
            // moved is a configuration change, not something to follow silently.
            max_redirects: 0,
        };
        let response = host.http_send(&request)?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        // The status decides the class; an unreadable body only costs the message.
        let body = response.body.read_all().unwrap_or_default();
        let retry_after =
            classify::retry_after_ms(response.header("retry-after-ms"), response.header("retry-after"));
        Err(classify::http_error(response.status, retry_after, &body))
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    fn account(credentials: &str) -> Account {
        Account {
            credentials_json: credentials.to_owned(),
        }
    }

    #[test]
    fn missing_or_empty_api_key_is_an_auth_failure() {
        let host = FakeHost::default();
        let error = |credentials| Upstream::resolve(&host, &account(credentials)).err();
        let no_key = ProviderError::AuthFailed("account has no api_key".into());
        assert_eq!(error("{}"), Some(no_key.clone()));
        assert_eq!(error(r#"{"api_key":" "}"#), Some(no_key));
        assert!(matches!(error("not json"), Some(ProviderError::AuthFailed(_))));
    }

    #[test]
    fn base_url_default_config_and_account_override() -> Result<(), ProviderError> {
        let key = account(r#"{"api_key":"k"}"#);
        assert_eq!(
            Upstream::resolve(&FakeHost::default(), &key)?.base_url,
            DEFAULT_BASE_URL
        );
        let host = FakeHost::with_config(&[("base_url", "http://llm.internal:8000/v1/")]);
        assert_eq!(
            Upstream::resolve(&host, &key)?.base_url,
            "http://llm.internal:8000/v1"
        );
        let own = account(r#"{"api_key":"k","base_url":"https://other.test/v1//"}"#);
        assert_eq!(Upstream::resolve(&host, &own)?.base_url, "https://other.test/v1");
        Ok(())
    }

    #[test]
    fn sends_bearer_organization_and_no_redirects() -> Result<(), ProviderError> {
        let host = FakeHost::with_config(&[("organization", "org-config")]);
        host.respond(200, &[], &["{}"]);
        let upstream = Upstream::resolve(&host, &account(r#"{"api_key":"sk-1","organization":"org-own"}"#))?;
        upstream.send(
            &host,
            "POST",
            "/chat/completions",
            "text/event-stream",
            Some(b"{}".to_vec()),
        )?;
        let request = host.request();
        assert_eq!(request.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(request.max_redirects, 0);
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("Authorization"), Some("Bearer sk-1"));
        assert_eq!(header("Accept"), Some("text/event-stream"));
        assert_eq!(header("Content-Type"), Some("application/json"));
        assert_eq!(header("OpenAI-Organization"), Some("org-own"));
        Ok(())
    }

    #[test]
    fn error_responses_are_classified_with_retry_headers() -> Result<(), ProviderError> {
        let host = FakeHost::default();
        host.respond(429, &[("Retry-After", "3")], &[r#"{"error":{"message":"slow"}}"#]);
        let upstream = Upstream::resolve(&host, &account(r#"{"api_key":"k"}"#))?;
        let result = upstream.send(&host, "GET", "/models", "application/json", None);
        let expected = ProviderError::RateLimited {
            retry_after_ms: Some(3000),
            message: "slow".into(),
        };
        assert_eq!(result.err(), Some(expected));
        Ok(())
    }
}
