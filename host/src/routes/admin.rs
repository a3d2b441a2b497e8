//! Admin API: the credential layer, plugin listing and reload, and the per-channel queue.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use ipnet::IpNet;
use serde_json::{Value, json};

use crate::admin_auth::AuthError;
use crate::app::App;
use crate::error::ApiError;

/// Middleware guarding every admin route: a token, the password (Basic) or a session cookie
/// (see [`crate::admin_auth::AdminAuth::check`]).
pub(super) async fn require_admin(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let client = client_ip(&app, &req);
    app.admin()
        .check(req.headers(), client)
        .await
        .map_err(auth_error)?;
    Ok(next.run(req).await)
}

/// The client's address (the login limiter's key): the connection's peer, or what a trusted
/// proxy reports in `X-Forwarded-For`.
pub(super) fn client_ip(app: &App, req: &axum::extract::Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    forwarded_client(peer, req.headers(), &app.config().server.trusted_proxies)
}

/// The peer, unless it is a trusted proxy: then the rightmost `X-Forwarded-For` hop that is not
/// itself trusted. Hops left of that one were written by the client and may be forged.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        // Some proxies append the client's port (`ip:port`, `[v6]:port`).
        let ip = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()));
        match ip.map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => {}
            Ok(ip) => return ip,
            // A malformed hop ends what can be believed.
            Err(_) => break,
        }
    }
    peer
}

pub(super) fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Invalid => ApiError::unauthorized("missing or invalid admin credentials"),
        AuthError::Throttled(wait) => ApiError::rate_limited(e.to_string(), wait),
        AuthError::Store(e) => ApiError::store(e, "admin credential"),
    }
}

pub(super) async fn list_plugins(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"plugins": app.plugins().summaries()})))
}

pub(super) async fn reload_plugin(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.plugins().reload(&name).await.map_err(|e| match e {
        crate::wasm::PluginError::NotFound(n) => ApiError::not_found(format!("no plugin `{n}`")),
        other => ApiError::bad_request(format!("reload rejected: {other}")),
    })?;
    Ok(Json(
        json!({"reloaded": name, "plugins": app.plugins().summaries()}),
    ))
}

/// Per-channel queue: each account's state (available / in use / full / cooling down /
/// disabled), in-flight count, limits and last error, plus totals.
pub(super) async fn queue(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let accounts = app
        .store()
        .list_accounts(None)
        .await
        .map_err(|e| ApiError::store(e, "account"))?;
    let mut channels = serde_json::Map::new();
    for plugin in app.plugins().list() {
        let mine: Vec<_> = accounts
            .iter()
            .filter(|a| a.channel == *plugin.name)
            .cloned()
            .collect();
        let statuses = app
            .pool()
            .status(&mine)
            .await
            .map_err(|e| ApiError::store(e, "account"))?;
        let count = |s: &str| statuses.iter().filter(|a| a.status == s).count();
        let capacity: u32 = statuses
            .iter()
            .filter(|a| a.status != "disabled")
            .map(|a| a.max_inflight)
            .sum();
        channels.insert(
            plugin.name.to_string(),
            json!({
                "available": count("available"),
                "in_use": count("in_use") + count("full"),
                "cooling_down": count("cooling_down"),
                "disabled": count("disabled"),
                "in_flight": statuses.iter().map(|a| a.inflight).sum::<u32>(),
                "recommended_concurrency": capacity,
                "accounts": statuses,
            }),
        );
    }
    Ok(Json(json!({"channels": channels})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let chain = forwarded(&["198.51.100.7, 203.0.113.9", "10.1.2.3"]);
        // An untrusted peer's header is ignored.
        assert_eq!(
            forwarded_client(ip("192.0.2.1"), &chain, &trusted),
            ip("192.0.2.1")
        );
        // A trusted peer: the rightmost hop that is not a proxy; the forgeable left part is not read.
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &chain, &trusted),
            ip("203.0.113.9")
        );
        // IPv4-mapped IPv6 peers (dual-stack listeners) count as their IPv4 address.
        assert_eq!(
            forwarded_client(ip("::ffff:127.0.0.1"), &chain, &trusted),
            ip("203.0.113.9")
        );
        // No header, only proxies, or a malformed hop: the peer itself.
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &forwarded(&["10.0.0.1"]), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &forwarded(&["1.2.3.4, junk"]), &trusted),
            ip("127.0.0.1")
        );
        // A hop with a port counts as its address.
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), &forwarded(&["203.0.113.9:4321"]), &trusted),
            ip("203.0.113.9")
        );
        // Nothing trusted: the header never counts.
        assert_eq!(forwarded_client(ip("127.0.0.1"), &chain, &[]), ip("127.0.0.1"));
    }
}
