//! The host imports as a trait, so behaviours run against the real host or a test fake.

use crate::types::{KvError, NetError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpRequest {
    pub(crate) method: &'static str,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) max_redirects: u8,
}

pub(crate) struct HttpResponse<B> {
    pub(crate) status: u16,
    pub(crate) body: B,
}

/// A streaming response body.
pub(crate) trait Body {
    /// The next chunk, or `None` at the end of the body.
    fn read(&self) -> Result<Option<Vec<u8>>, NetError>;
    fn read_all(&self) -> Result<Vec<u8>, NetError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// An open WebSocket connection.
pub(crate) trait Socket {
    fn send_text(&self, text: &str) -> Result<(), NetError>;
    /// The next data frame, or `None` once the peer closed the socket.
    fn receive(&self) -> Result<Option<Frame>, NetError>;
    fn close(&self);
}

pub(crate) trait Host {
    type Body: Body;
    type Socket: Socket;

    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<Self::Body>, NetError>;
    fn ws_connect(&self, url: &str, ping_interval_ms: Option<u32>) -> Result<Self::Socket, NetError>;
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn update_credentials(&self, patch_json: &str) -> Result<(), String>;
    fn config(&self, key: &str) -> Option<String>;
    fn log_info(&self, message: &str);
}
