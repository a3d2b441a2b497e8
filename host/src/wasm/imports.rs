//! Host implementations of the WIT imports, one module per interface.

pub(crate) mod config;
pub(crate) mod credentials;
pub(crate) mod http_client;
pub(crate) mod kv;
pub(crate) mod log;
pub(crate) mod websocket;

use std::time::Duration;

use super::bindings::gateway::provider::types::NetError;
use crate::outbound::OutboundError;

pub(crate) fn net_error(e: OutboundError) -> NetError {
    match e {
        OutboundError::Denied(d) => NetError::Denied(d),
        OutboundError::Timeout => NetError::Timeout,
        OutboundError::Connect(m) => NetError::Connect(m),
        OutboundError::TooLarge(cap) => NetError::TooLarge(cap),
        OutboundError::Protocol(m) => NetError::Protocol(m),
        OutboundError::Closed => NetError::Closed,
        OutboundError::Busy => NetError::Busy,
    }
}

pub(crate) fn millis(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::from(ms)))
}

impl super::bindings::gateway::provider::types::Host for super::state::HostState {}
