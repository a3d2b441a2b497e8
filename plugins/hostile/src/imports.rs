//! WIT glue: type conversions and the core's `Host` trait over the real host imports.

use crate::bindings::gateway::provider::types as wt;
use crate::bindings::gateway::provider::{config, http_client, kv};
use crate::host::{Body, Host};
use crate::types::{Event, KvError, NetError, ProviderError};

pub(crate) struct WitHost;

pub(crate) struct WitBody(http_client::Body);

impl Body for WitBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        self.0.read(None).map_err(net_error)
    }
}

impl Host for WitHost {
    type Body = WitBody;

    fn http_get(&self, url: &str, max_redirects: u8) -> Result<(u16, WitBody), NetError> {
        let req = http_client::Request {
            method: "GET".to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
            max_redirects,
        };
        let resp = http_client::send(&req).map_err(net_error)?;
        Ok((resp.status, WitBody(resp.body)))
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value, None).map_err(|e| match e {
            kv::KvError::QuotaExceeded(m) => KvError::QuotaExceeded(m),
            kv::KvError::Unavailable(m) => KvError::Unavailable(m),
        })
    }
}

fn net_error(e: wt::NetError) -> NetError {
    match e {
        wt::NetError::Denied(d) => NetError::Denied(d),
        wt::NetError::Timeout => NetError::Timeout,
        wt::NetError::Connect(m) => NetError::Connect(m),
        wt::NetError::TooLarge(cap) => NetError::TooLarge(cap),
        wt::NetError::Protocol(m) => NetError::Protocol(m),
        wt::NetError::Closed => NetError::Closed,
        wt::NetError::Busy => NetError::Busy,
    }
}

pub(crate) fn event(e: Event) -> wt::Event {
    match e {
        Event::TextDelta(t) => wt::Event::TextDelta(t),
        Event::Stop => wt::Event::Stop(wt::StopReason::EndTurn),
    }
}

pub(crate) fn provider_error(e: ProviderError) -> wt::ProviderError {
    match e {
        ProviderError::ModelNotFound(m) => wt::ProviderError::ModelNotFound(m),
        ProviderError::Upstream { status, message } => {
            wt::ProviderError::Upstream(wt::UpstreamFailure { status, message })
        }
        ProviderError::Transient(m) => wt::ProviderError::Transient(m),
        ProviderError::Internal(m) => wt::ProviderError::Internal(m),
    }
}
