//! The host imports this channel uses, as a trait, so the core runs against the real host or a fake.

use crate::error::NetError;

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
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: B,
}

impl<B> HttpResponse<B> {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A streaming response body.
pub(crate) trait Body {
    /// The next chunk, or `None` at the end of the body.
    fn read(&self) -> Result<Option<Vec<u8>>, NetError>;
    fn read_all(&self) -> Result<Vec<u8>, NetError>;
}

pub(crate) trait Host {
    type Body: Body;

    /// Sends the request and returns once the response head has arrived.
    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<Self::Body>, NetError>;
    /// A key of the plugin's operator configuration, `None` when unset.
    fn config(&self, key: &str) -> Option<String>;
}
