//! `websocket` import: outbound WebSocket connections with host-driven pings.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wasmtime::component::Resource;

use super::{millis, net_error};
use crate::outbound::{OutboundError, WebSocket};
use crate::wasm::bindings::gateway::provider::types::NetError;
use crate::wasm::bindings::gateway::provider::websocket::{ConnectOptions, Frame, Host, HostConnection};
use crate::wasm::state::HostState;

/// Host side of the `connection` resource.
#[allow(unreachable_pub, reason = "bindgen re-exports resource types publicly")]
pub struct ConnectionHandle {
    ws: Option<WebSocket>,
    ping_every: Option<Duration>,
    last_ping: Instant,
    idle: Duration,
}

impl Host for HostState {
    async fn connect(
        &mut self,
        url: String,
        options: ConnectOptions,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, NetError>> {
        if self.open_connections >= self.grants.max_connections {
            return Ok(Err(NetError::Busy));
        }
        let headers: Vec<(String, String)> = options.headers.into_iter().map(|h| (h.name, h.value)).collect();
        let started = Instant::now();
        let result = self
            .services
            .outbound
            .websocket(
                &self.grants,
                &url,
                &headers,
                &options.subprotocols,
                millis(options.timeout_ms),
            )
            .await;
        self.cpu.add_io(started.elapsed());
        let plugin = self.ctx.plugin.clone();
        let ws = match result {
            Ok(ws) => ws,
            Err(e) => {
                if let OutboundError::Denied(d) = &e {
                    self.services
                        .metrics
                        .outbound_denied
                        .with_label_values(&[&*plugin, "ws"])
                        .inc();
                    tracing::warn!(plugin = %plugin, destination = %d, "outbound WebSocket denied by grants");
                }
                return Ok(Err(net_error(e)));
            }
        };
        self.services
            .metrics
            .outbound_requests
            .with_label_values(&[&*plugin, "ws"])
            .inc();
        let handle = ConnectionHandle {
            ws: Some(ws),
            ping_every: millis(options.ping_interval_ms).map(|d| d.max(Duration::from_millis(100))),
            last_ping: Instant::now(),
            idle: self.grants.timeout,
        };
        self.open_connections += 1;
        Ok(Ok(self.table.push(handle)?))
    }
}

impl HostConnection for HostState {
    async fn send(
        &mut self,
        conn: Resource<ConnectionHandle>,
        frame: Frame,
    ) -> wasmtime::Result<Result<(), NetError>> {
        let max = self.grants.max_request_bytes;
        let handle = self.table.get_mut(&conn)?;
        let Some(ws) = handle.ws.as_mut() else {
            return Ok(Err(NetError::Closed));
        };
        let message = match frame {
            Frame::Text(t) if t.len() as u64 <= max => Message::text(t),
            Frame::Binary(b) if b.len() as u64 <= max => Message::binary(b),
            _ => return Ok(Err(NetError::TooLarge(max))),
        };
        let started = Instant::now();
        let result = ws.send(message).await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map_err(|e| NetError::Protocol(e.to_string())))
    }

    async fn receive(
        &mut self,
        conn: Resource<ConnectionHandle>,
        timeout_ms: Option<u32>,
    ) -> wasmtime::Result<Result<Option<Frame>, NetError>> {
        let handle = self.table.get_mut(&conn)?;
        let started = Instant::now();
        let result = handle.receive(millis(timeout_ms)).await;
        self.cpu.add_io(started.elapsed());
        Ok(result)
    }

    async fn close(
        &mut self,
        conn: Resource<ConnectionHandle>,
        code: u16,
        reason: String,
    ) -> wasmtime::Result<()> {
        let handle = self.table.get_mut(&conn)?;
        if let Some(mut ws) = handle.ws.take() {
            let frame = CloseFrame {
                code: code.into(),
                reason: reason.into(),
            };
            let started = Instant::now();
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(Some(frame))).await;
            self.cpu.add_io(started.elapsed());
        }
        Ok(())
    }

    async fn drop(&mut self, conn: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.open_connections = self.open_connections.saturating_sub(1);
        Ok(())
    }
}

impl ConnectionHandle {
    async fn receive(&mut self, timeout: Option<Duration>) -> Result<Option<Frame>, NetError> {
        let deadline = Instant::now() + timeout.map_or(self.idle, |t| t.min(self.idle));
        let Some(ws) = self.ws.as_mut() else {
            return Err(NetError::Closed);
        };
        loop {
            let mut wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(NetError::Timeout);
            }
            if let Some(every) = self.ping_every {
                let due = every.saturating_sub(self.last_ping.elapsed());
                if due.is_zero() {
                    self.last_ping = Instant::now();
                    ws.send(Message::Ping(Default::default()))
                        .await
                        .map_err(|e| NetError::Protocol(e.to_string()))?;
                    continue;
                }
                wait = wait.min(due);
            }
            match tokio::time::timeout(wait, ws.next()).await {
                Err(_) => continue, // a ping is due, or the deadline check above ends the loop
                Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                    self.ws = None;
                    return Ok(None);
                }
                Ok(Some(Ok(Message::Text(t)))) => return Ok(Some(Frame::Text(t.to_string()))),
                Ok(Some(Ok(Message::Binary(b)))) => return Ok(Some(Frame::Binary(b.to_vec()))),
                Ok(Some(Ok(_))) => continue, // ping/pong/raw frames are the host's business
                Ok(Some(Err(e))) => {
                    self.ws = None;
                    return Err(net_error(OutboundError::Protocol(e.to_string())));
                }
            }
        }
    }
}
