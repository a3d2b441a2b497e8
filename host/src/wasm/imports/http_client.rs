//! `http-client` import: outbound HTTP with streaming bodies, through `crate::outbound`.

use std::time::Instant;

use wasmtime::component::Resource;

use super::{millis, net_error};
use crate::outbound::{BodyReader, OutRequest, OutboundError};
use crate::wasm::bindings::gateway::provider::http_client::{Host, HostBody, Request, Response};
use crate::wasm::bindings::gateway::provider::types::{Header, NetError};
use crate::wasm::state::HostState;

/// Host side of the `body` resource.
#[allow(unreachable_pub, reason = "bindgen re-exports resource types publicly")]
pub struct BodyHandle {
    reader: BodyReader,
}

impl Host for HostState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, NetError>> {
        let plugin = self.ctx.plugin.clone();
        let metrics = self.services.metrics.clone();
        if self.open_connections >= self.grants.max_connections {
            return Ok(Err(NetError::Busy));
        }
        let out = OutRequest {
            method: req.method.to_ascii_uppercase(),
            url: req.url,
            headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: req.body,
            timeout: millis(req.timeout_ms),
            max_redirects: req.max_redirects.min(10),
        };
        let started = Instant::now();
        let result = self.services.outbound.send(&self.grants, out).await;
        self.cpu.add_io(started.elapsed());
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                if let OutboundError::Denied(d) = &e {
                    metrics
                        .outbound_denied
                        .with_label_values(&[&*plugin, "http"])
                        .inc();
                    tracing::warn!(plugin = %plugin, destination = %d, "outbound HTTP denied by grants");
                }
                metrics
                    .outbound_requests
                    .with_label_values(&[&*plugin, "error"])
                    .inc();
                return Ok(Err(self.body_error(e)));
            }
        };
        let class = format!("{}xx", resp.status / 100);
        metrics
            .outbound_requests
            .with_label_values(&[&*plugin, &class])
            .inc();
        let body = self.table.push(BodyHandle { reader: resp.body })?;
        self.open_connections += 1;
        Ok(Ok(Response {
            status: resp.status,
            headers: resp
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            url: resp.url,
            body,
        }))
    }
}

impl HostBody for HostState {
    async fn read(
        &mut self,
        body: Resource<BodyHandle>,
        timeout_ms: Option<u32>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, NetError>> {
        let handle = self.table.get_mut(&body)?;
        let started = Instant::now();
        let result = handle.reader.next_chunk(millis(timeout_ms)).await;
        self.cpu.add_io(started.elapsed());
        Ok(result
            .map(|c| c.map(|b| b.to_vec()))
            .map_err(|e| self.body_error(e)))
    }

    async fn read_all(&mut self, body: Resource<BodyHandle>) -> wasmtime::Result<Result<Vec<u8>, NetError>> {
        let handle = self.table.get_mut(&body)?;
        let started = Instant::now();
        let result = handle.reader.read_all().await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map_err(|e| self.body_error(e)))
    }

    async fn drop(&mut self, body: Resource<BodyHandle>) -> wasmtime::Result<()> {
        self.table.delete(body)?;
        self.open_connections = self.open_connections.saturating_sub(1);
        Ok(())
    }
}

impl HostState {
    fn body_error(&self, e: OutboundError) -> NetError {
        if let OutboundError::TooLarge(cap) = &e {
            self.services
                .metrics
                .outbound_too_large
                .with_label_values(&[&*self.ctx.plugin])
                .inc();
            tracing::warn!(plugin = %self.ctx.plugin, cap, "upstream body cut off at the byte cap");
        }
        net_error(e)
    }
}
