//! The `chat` operation: send the request, wait for the response head, pick the decoder.

use gateway_guest::ProviderError;

use crate::decode::completion_events;
use crate::host::{Body, Host};
use crate::request::{MaxTokensField, chat_body};
use crate::stream::ChatStream;
use crate::types::{Account, ChatRequest};
use crate::upstream::Upstream;

/// Starts a chat. Auth, rate-limit and request errors all surface here, before the first
/// event, so the host can still fail over to another account.
pub(crate) fn chat<H: Host>(
    host: &H,
    account: &Account,
    request: &ChatRequest,
) -> Result<ChatStream<H::Body>, ProviderError> {
    let upstream = Upstream::resolve(host, account)?;
    let max_tokens_field = MaxTokensField::from_config(host.config("max_tokens_field").as_deref())?;
    let body = chat_body(request, max_tokens_field)?.to_string().into_bytes();
    let response = upstream.send(host, "POST", "/chat/completions", "text/event-stream", Some(body))?;
    if is_json(response.header("content-type")) {
        let events = completion_events(&response.body.read_all()?)?;
        return Ok(ChatStream::Ready(events));
    }
    Ok(ChatStream::sse(response.body))
}

/// Some compatible servers ignore `stream: true` and answer with one JSON completion.
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    })
}

#[cfg(test)]
mod tests;
