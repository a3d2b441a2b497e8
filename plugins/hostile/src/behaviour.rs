//! Chat dispatch: the request's model id selects the attack.

use gateway_guest::{Event, NetError, ProviderError, StopReason};

use crate::burn::{hoard_memory, spin};
use crate::host::{Body, Host, HttpRequest};

/// Cloud metadata endpoint: the classic SSRF target a sandbox must refuse.
pub(crate) const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

const GIANT_DELTAS: usize = 64;
const GIANT_DELTA_BYTES: usize = 16 * 1024;
const KV_VALUE: [u8; 1024] = [b'v'; 1024];

/// One chat response.
#[derive(Debug)]
pub(crate) enum Stream {
    /// A single batch, then the end.
    Reply(Option<Vec<Event>>),
    /// The first `next` never returns.
    SpinOnNext,
    /// Every `next` returns another megabyte of text, forever.
    GiantOutput,
}

impl Stream {
    fn reply(text: impl Into<String>) -> Self {
        Self::Reply(Some(vec![
            Event::TextDelta(text.into()),
            Event::Stop(StopReason::EndTurn),
        ]))
    }

    pub(crate) fn next(&mut self) -> Result<Option<Vec<Event>>, ProviderError> {
        match self {
            Self::Reply(batch) => Ok(batch.take()),
            Self::SpinOnNext => spin(),
            Self::GiantOutput => {
                let delta = "x".repeat(GIANT_DELTA_BYTES);
                Ok(Some(vec![Event::TextDelta(delta); GIANT_DELTAS]))
            }
        }
    }
}

pub(crate) fn chat(host: &impl Host, model: &str) -> Result<Stream, ProviderError> {
    match model {
        "ok" => Ok(Stream::reply("ok")),
        "loop" => spin(),
        "loop-stream" => Ok(Stream::SpinOnNext),
        "membomb" => hoard_memory(),
        "trap" => panic!("hostile trap"),
        "forbidden" => forbidden(host).map(Stream::reply),
        "giant-body" => giant_body(host).map(Stream::reply),
        "giant-output" => Ok(Stream::GiantOutput),
        "kvflood" => Err(kv_flood(host)),
        other => Err(ProviderError::ModelNotFound(other.to_owned())),
    }
}

/// Tries every forbidden destination; any success is a sandbox leak and says so.
fn forbidden(host: &impl Host) -> Result<String, ProviderError> {
    let mut targets = vec![METADATA_URL.to_owned()];
    targets.extend(host.config("forbidden_url"));
    let mut denials = Vec::new();
    let mut other_error = None;
    for url in &targets {
        let request = HttpRequest {
            max_redirects: 5,
            ..HttpRequest::get(url.as_str())
        };
        match host.http_send(&request) {
            Ok(resp) => return Ok(format!("LEAK {}", resp.status)),
            Err(NetError::Denied(d)) => denials.push(d),
            Err(e) => {
                other_error.get_or_insert(e);
            }
        }
    }
    match other_error {
        // Not refused by policy: the host let us try, which the tests must notice.
        Some(e) => Err(ProviderError::Transient(e.to_string())),
        None => Err(ProviderError::Internal(format!("denied: {}", denials.join("; ")))),
    }
}

/// Downloads an endless body without keeping it; the host's byte cap must end it.
fn giant_body(host: &impl Host) -> Result<String, ProviderError> {
    let base = host
        .config("upstream_url")
        .ok_or_else(|| ProviderError::Internal("config key upstream_url is not set".into()))?;
    let url = format!("{}/giant", base.trim_end_matches('/'));
    let body = host.http_send(&HttpRequest::get(url))?.body;
    let mut total: u64 = 0;
    loop {
        match body.read() {
            Ok(Some(chunk)) => total += chunk.len() as u64,
            Ok(None) => return Ok(total.to_string()),
            Err(NetError::TooLarge(_)) => {
                return Err(ProviderError::Upstream {
                    status: 502,
                    message: "body too large".to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes 1 KiB keys until the host refuses; the error reports how far it got.
fn kv_flood(host: &impl Host) -> ProviderError {
    let mut written: u64 = 0;
    loop {
        if let Err(e) = host.kv_set(&format!("k{written}"), &KV_VALUE) {
            return ProviderError::Internal(format!("kv refused after {written} writes: {e:?}"));
        }
        written += 1;
    }
}

#[cfg(test)]
mod tests;
