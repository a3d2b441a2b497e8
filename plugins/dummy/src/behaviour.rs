//! Chat dispatch: the request's model id selects what the dummy does.

use crate::catalog::VERSION;
use crate::host::{Body, Host, HttpRequest, Socket};
use crate::scripts::{echo, reply, thinking, tools};
use crate::stream::Stream;
use crate::types::{Account, ChatRequest, Event, ProviderError};

/// Upstream error bodies are quoted in errors only up to this many characters.
const MAX_ERROR_CHARS: usize = 512;

/// Starts a chat. Everything that can fail before the first event fails here, so the host
/// can still fail over.
pub(crate) fn chat<H: Host>(
    host: &H,
    account: &Account,
    req: &ChatRequest,
) -> Result<Stream<H>, ProviderError> {
    use ProviderError as E;
    let text = req.last_user_text();
    let batches = match req.model.as_str() {
        "version" => reply(VERSION),
        "http" => return http(host, account, &text),
        "by-account" => return by_account(account),
        "ws" => return ws(host, &text),
        "kv" => reply(bump_counter(host)?.to_string()),
        "persist" => {
            let patch = serde_json::json!({ "rotated": text }).to_string();
            host.update_credentials(&patch).map_err(E::Internal)?;
            reply("ok")
        }
        "account" => reply(account.credentials_json.clone()),
        "config" => reply(host.config(&text).unwrap_or_else(|| "<unset>".to_owned())),
        "tools" => tools(&text),
        "thinking" => thinking(),
        "error-auth" => return Err(E::AuthFailed("bad credentials".to_owned())),
        "error-rate" => {
            return Err(E::RateLimited {
                retry_after_ms: Some(1000),
                message: "slow down".to_owned(),
            });
        }
        "error-quota" => {
            return Err(E::QuotaExhausted {
                reset_at_ms: None,
                message: "quota used up".to_owned(),
            });
        }
        "error-bad" => return Err(E::BadRequest("malformed request".to_owned())),
        "error-model" => return Err(E::ModelNotFound(req.model.clone())),
        "error-upstream" => {
            return Err(E::Upstream {
                status: 500,
                message: "upstream exploded".to_owned(),
            });
        }
        "error-transient" => return Err(E::Transient("network hiccup".to_owned())),
        "error-midstream" => {
            return Ok(Stream::failing_after(
                vec![vec![Event::TextDelta("partial".to_owned())]],
                E::Upstream {
                    status: 502,
                    message: "upstream broke mid-stream".to_owned(),
                },
            ));
        }
        "fetch" => reply(fetch(host, text.trim())?),
        "log" => {
            host.log_info(&text);
            reply("logged")
        }
        _ => echo(&text),
    };
    Ok(Stream::scripted(batches))
}

fn required_config(host: &impl Host, key: &str) -> Result<String, ProviderError> {
    host.config(key)
        .ok_or_else(|| ProviderError::Internal(format!("config key {key} is not set")))
}

/// A credential field of the account, if it is a string.
fn credential(account: &Account, key: &str) -> Option<String> {
    let creds: serde_json::Value = serde_json::from_str(&account.credentials_json).ok()?;
    creds.get(key)?.as_str().map(str::to_owned)
}

/// Fails the way the account's `fail` credential says (`auth`, `rate`, `quota`, `transient`,
/// `bad`), else answers with the account's `name`: lets tests drive the host's failover.
fn by_account<H: Host>(account: &Account) -> Result<Stream<H>, ProviderError> {
    use ProviderError as E;
    let message = || "scripted failure".to_owned();
    match credential(account, "fail").as_deref() {
        Some("auth") => Err(E::AuthFailed(message())),
        Some("rate") => Err(E::RateLimited {
            retry_after_ms: Some(30_000),
            message: message(),
        }),
        Some("quota") => Err(E::QuotaExhausted {
            reset_at_ms: None,
            message: message(),
        }),
        Some("transient") => Err(E::Transient(message())),
        Some("bad") => Err(E::BadRequest(message())),
        _ => {
            let name = credential(account, "name").unwrap_or_else(|| "unnamed".to_owned());
            Ok(Stream::scripted(reply(format!("served by {name}"))))
        }
    }
}

/// POSTs the text to the SSE test upstream and waits for the response head. The account's
/// `name` credential travels as `x-dummy-account`, so a fake can count per-account load.
fn http<H: Host>(host: &H, account: &Account, text: &str) -> Result<Stream<H>, ProviderError> {
    let base = required_config(host, "upstream_url")?;
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(name) = credential(account, "name") {
        headers.push(("x-dummy-account".to_owned(), name));
    }
    let req = HttpRequest {
        method: "POST",
        url: format!("{}/stream", base.trim_end_matches('/')),
        headers,
        body: serde_json::json!({ "text": text }).to_string().into_bytes(),
        max_redirects: 0,
    };
    let resp = host.http_send(&req)?;
    if !(200..300).contains(&resp.status) {
        let message = match resp.body.read_all() {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .chars()
                .take(MAX_ERROR_CHARS)
                .collect(),
            Err(e) => format!("(body unreadable: {e})"),
        };
        return Err(ProviderError::Upstream {
            status: resp.status,
            message,
        });
    }
    Ok(Stream::sse(resp.body))
}

/// Opens the WebSocket test upstream and sends the text as the request frame.
fn ws<H: Host>(host: &H, text: &str) -> Result<Stream<H>, ProviderError> {
    let url = required_config(host, "ws_url")?;
    let socket = host.ws_connect(&url, Some(10_000))?;
    socket.send_text(text)?;
    Ok(Stream::ws(socket))
}

/// Increments the `counter` KV entry, proving KV state outlives the per-call instance.
fn bump_counter(host: &impl Host) -> Result<u64, ProviderError> {
    let current = match host.kv_get("counter")? {
        None => 0,
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ProviderError::Internal("counter is not a number".to_owned()))?,
    };
    let next = current.saturating_add(1);
    host.kv_set("counter", next.to_string().as_bytes())?;
    Ok(next)
}

/// GETs an arbitrary URL, so tests can probe the host's grants and redirect checks.
fn fetch(host: &impl Host, url: &str) -> Result<String, ProviderError> {
    let resp = host.http_send(&HttpRequest {
        method: "GET",
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        max_redirects: 5,
    })?;
    let body = resp.body.read_all()?;
    Ok(format!("{} {}", resp.status, String::from_utf8_lossy(&body)))
}

#[cfg(test)]
mod tests;
