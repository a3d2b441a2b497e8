//! Outbound HTTP and WebSocket on a plugin's behalf: grant checks, SSRF-safe DNS, redirects, caps.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio_tungstenite::tungstenite;
use url::Url;

use crate::config::{PluginGrants, default_port};

/// Why an outbound call failed; mirrors the WIT `net-error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutboundError {
    #[error("destination denied: {0}")]
    Denied(String),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("body exceeds the {0}-byte cap")]
    TooLarge(u64),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("closed")]
    Closed,
    #[error("too many concurrent connections")]
    Busy,
}

/// A request as a plugin describes it.
#[derive(Debug, Clone)]
pub struct OutRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Option<Duration>,
    pub max_redirects: u8,
}

/// A response head plus a streaming body.
pub struct OutResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub url: String,
    pub body: BodyReader,
}

/// Reads a response body chunk by chunk, enforcing the byte cap and an idle timeout.
pub struct BodyReader {
    stream: Option<futures::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
    read: u64,
    cap: u64,
    idle: Duration,
}

/// The shared outbound client: one connection pool for every plugin.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
}

// === impl Outbound ===

impl Outbound {
    pub fn new() -> Result<Self, OutboundError> {
        let client = reqwest::Client::builder()
            // Redirects are followed by hand so every hop is checked against the grants.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy()
            .build()
            .map_err(|e| OutboundError::Connect(e.to_string()))?;
        Ok(Outbound { client })
    }

    /// Sends `req` under `grants`, following redirects (each hop checked), and returns once
    /// the final response head arrived.
    pub async fn send(
        &self,
        grants: &PluginGrants,
        mut req: OutRequest,
    ) -> Result<OutResponse, OutboundError> {
        if req.body.len() as u64 > grants.max_request_bytes {
            return Err(OutboundError::TooLarge(grants.max_request_bytes));
        }
        let timeout = req.timeout.map_or(grants.timeout, |t| t.min(grants.timeout));
        let mut url = check_url(grants, &req.url, &["http", "https"])?;
        let mut redirects_left = req.max_redirects;
        loop {
            let method = reqwest::Method::from_bytes(req.method.as_bytes())
                .map_err(|_| OutboundError::Protocol(format!("bad method `{}`", req.method)))?;
            // No reqwest `.timeout()`: it would also bound the body, cutting long streams. The
            // head is bounded here; each body read has its own idle limit (`BodyReader`).
            let mut builder = self.client.request(method, url.clone());
            for (name, value) in &req.headers {
                if forbidden_header(name) {
                    return Err(OutboundError::Denied(format!(
                        "header `{name}` is set by the host"
                    )));
                }
                builder = builder.header(name, value);
            }
            if !req.body.is_empty() {
                builder = builder.body(req.body.clone());
            }
            let resp = tokio::time::timeout(timeout, builder.send())
                .await
                .map_err(|_| OutboundError::Timeout)?
                .map_err(map_reqwest_error)?;
            let status = resp.status();
            if status.is_redirection()
                && redirects_left > 0
                && let Some(location) = resp.headers().get(reqwest::header::LOCATION)
            {
                {
                    let location = location
                        .to_str()
                        .map_err(|_| OutboundError::Protocol("non-ASCII Location".into()))?;
                    let next = url
                        .join(location)
                        .map_err(|e| OutboundError::Protocol(format!("bad Location: {e}")))?;
                    let next = check_url(grants, next.as_str(), &["http", "https"])?;
                    if next.origin() != url.origin() {
                        // Credentials meant for one origin must not follow a redirect to another.
                        req.headers.retain(|(n, _)| {
                            !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie")
                        });
                    }
                    if matches!(status.as_u16(), 301..=303) && req.method != "GET" && req.method != "HEAD" {
                        req.method = "GET".into();
                        req.body.clear();
                    }
                    url = next;
                    redirects_left -= 1;
                    continue;
                }
            }
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            if let Some(len) = resp.content_length()
                && len > grants.max_response_bytes
            {
                return Err(OutboundError::TooLarge(grants.max_response_bytes));
            }
            return Ok(OutResponse {
                status: status.as_u16(),
                headers,
                url: url.to_string(),
                body: BodyReader {
                    stream: Some(resp.bytes_stream().boxed()),
                    read: 0,
                    cap: grants.max_response_bytes,
                    idle: grants.timeout,
                },
            });
        }
    }

    /// Opens a WebSocket to `url` under `grants`, resolving and connecting through the same
    /// public-only rules as HTTP.
    pub async fn websocket(
        &self,
        grants: &PluginGrants,
        url: &str,
        headers: &[(String, String)],
        subprotocols: &[String],
        timeout: Option<Duration>,
    ) -> Result<WebSocket, OutboundError> {
        let url = check_url(grants, url, &["ws", "wss"])?;
        let timeout = timeout.map_or(grants.timeout, |t| t.min(grants.timeout));
        let connect = async {
            let host = url.host_str().ok_or(OutboundError::Denied("no host".into()))?;
            let port = url.port_or_known_default().unwrap_or(default_port(url.scheme()));
            let addrs = resolve_checked(host, port).await?;
            let tcp = tokio::net::TcpStream::connect(&addrs[..])
                .await
                .map_err(|e| OutboundError::Connect(e.to_string()))?;
            let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
                .map_err(|e| OutboundError::Protocol(e.to_string()))?;
            for (n, v) in headers {
                if forbidden_header(n) || n.to_ascii_lowercase().starts_with("sec-websocket-") {
                    return Err(OutboundError::Denied(format!("header `{n}` is set by the host")));
                }
                let name = http::HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| OutboundError::Protocol(format!("bad header name `{n}`")))?;
                let value = http::HeaderValue::from_str(v)
                    .map_err(|_| OutboundError::Protocol(format!("bad value for header `{n}`")))?;
                request.headers_mut().append(name, value);
            }
            if !subprotocols.is_empty() {
                let value = http::HeaderValue::from_str(&subprotocols.join(", "))
                    .map_err(|_| OutboundError::Protocol("bad subprotocol".into()))?;
                request.headers_mut().insert("sec-websocket-protocol", value);
            }
            let config = tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(Some(grants.max_response_bytes as usize))
                .max_frame_size(Some(grants.max_response_bytes as usize));
            let (ws, _) = tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), None)
                .await
                .map_err(|e| OutboundError::Connect(e.to_string()))?;
            Ok(ws)
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| OutboundError::Timeout)?
    }
}

/// An open outbound WebSocket.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

// === impl BodyReader ===

impl BodyReader {
    /// The next chunk, `None` at the end. `idle` overrides (but never exceeds) the grant's
    /// idle limit.
    pub async fn next_chunk(&mut self, idle: Option<Duration>) -> Result<Option<Bytes>, OutboundError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let idle = idle.map_or(self.idle, |t| t.min(self.idle));
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => Err(OutboundError::Timeout),
            Ok(None) => {
                self.stream = None;
                Ok(None)
            }
            Ok(Some(Err(e))) => {
                self.stream = None;
                Err(map_reqwest_error(e))
            }
            Ok(Some(Ok(chunk))) => {
                self.read += chunk.len() as u64;
                if self.read > self.cap {
                    // Drop the connection: a body over the cap is never read further.
                    self.stream = None;
                    return Err(OutboundError::TooLarge(self.cap));
                }
                Ok(Some(chunk))
            }
        }
    }

    /// Reads the remaining body into memory (still capped).
    pub async fn read_all(&mut self) -> Result<Vec<u8>, OutboundError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk(None).await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Headers a plugin may not set: `Host` would route a granted connection to an ungranted
/// virtual host behind a shared ingress; the others are framing the host owns.
fn forbidden_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "upgrade"
            | "te"
            | "trailer"
            | "keep-alive"
    ) || n.starts_with("proxy-")
}

/// Parses `raw` and checks scheme, host and port against the grants. IP literals must be
/// granted literally; names are later resolved by `PublicOnlyResolver`.
pub fn check_url(grants: &PluginGrants, raw: &str, schemes: &[&str]) -> Result<Url, OutboundError> {
    let url = Url::parse(raw).map_err(|e| OutboundError::Protocol(format!("bad URL: {e}")))?;
    let scheme = url.scheme();
    if !schemes.contains(&scheme) {
        return Err(OutboundError::Denied(format!(
            "scheme `{scheme}` not allowed here"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OutboundError::Denied(
            "credentials in URLs are not allowed".into(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| OutboundError::Denied("URL has no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(default_port(scheme));
    if !grants.allows(scheme, host, port) {
        return Err(OutboundError::Denied(format!("{scheme}://{host}:{port}")));
    }
    Ok(url)
}

/// Resolves `host` and refuses non-public addresses unless the host is an IP literal (already
/// checked against the grants) or `localhost`.
async fn resolve_checked(host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| OutboundError::Connect(format!("cannot resolve {bare}: {e}")))?
        .collect();
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| bare.eq_ignore_ascii_case("localhost") || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(OutboundError::Denied(format!(
            "{bare} resolves to a non-public address"
        )));
    }
    Ok(allowed)
}

/// DNS for the shared client: a name may only lead to public addresses (except `localhost`,
/// which an operator can only reach by granting it literally). This closes DNS-rebinding
/// routes to internal services that a name-based grant would otherwise open.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let o = v6.octets();
            let embedded = |i: usize| IpAddr::V4(std::net::Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]));
            // Forms that carry an IPv4 address reach it through a translator: judge that address.
            if s[0] == 0x0064 && s[1] == 0xff9b {
                return is_public(embedded(12)); // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
            }
            if s[0] == 0x2002 {
                return is_public(embedded(2)); // 6to4
            }
            if s[..6] == [0; 6] {
                return false; // IPv4-compatible ::/96 (and ::, ::1)
            }
            if (s[0] & 0xe000) != 0x2000 {
                return false; // only global unicast 2000::/3 is public
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn map_reqwest_error(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    // The resolver's own denial surfaces as a connect error; keep it a denial.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(OutboundError::Denied(d)) = s.downcast_ref::<OutboundError>() {
            return OutboundError::Denied(d.clone());
        }
        source = s.source();
    }
    if e.is_connect() {
        OutboundError::Connect(e.to_string())
    } else {
        OutboundError::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
