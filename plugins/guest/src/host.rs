//! The host imports as small capability traits, so a plugin's logic runs against the real host
//! ([`crate::WitHost`]) or a test fake that implements only what that logic uses.

use crate::error::{KvError, NetError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub max_redirects: u8,
}

impl HttpRequest {
    /// A bodiless GET that follows no redirects.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            max_redirects: 0,
        }
    }
}

pub struct HttpResponse<B> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: B,
}

impl<B> HttpResponse<B> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A streaming response body.
pub trait Body {
    /// The next chunk, or `None` at the end of the body.
    fn read(&self) -> Result<Option<Vec<u8>>, NetError>;

    /// The rest of the body.
    fn read_all(&self) -> Result<Vec<u8>, NetError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.read()? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}

/// Outbound HTTP, under the operator's grants.
pub trait Http {
    type Body: Body;

    /// Sends the request and returns once the response head has arrived.
    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<Self::Body>, NetError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// An open WebSocket connection.
pub trait Socket {
    fn send_text(&self, text: &str) -> Result<(), NetError>;
    /// The next data frame, or `None` once the peer closed the socket.
    fn receive(&self) -> Result<Option<Frame>, NetError>;
    fn close(&self);
}

/// Outbound WebSockets, under the operator's grants.
pub trait WebSockets {
    type Socket: Socket;

    fn ws_connect(&self, url: &str, ping_interval_ms: Option<u32>) -> Result<Self::Socket, NetError>;
}

/// The plugin's own key-value namespace (per-account caches, tokens).
pub trait Kv {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
}

/// The operator's plugin settings (`[plugins.<name>.config]`).
pub trait Config {
    /// A key of the configuration, `None` when unset.
    fn config(&self, key: &str) -> Option<String>;
}

/// Persisting rotated credentials of the leased account.
pub trait Credentials {
    /// Merges a JSON object into the account's credentials.
    fn update_credentials(&self, patch_json: &str) -> Result<(), String>;
}

/// The host's log (tagged with the plugin and request by the host).
pub trait Log {
    fn log_info(&self, message: &str);
}
