//! WIT glue: the core's `Host` trait implemented over the real host imports.

use crate::bindings::gateway::provider::{config, credentials, http_client, kv, log, websocket};
use crate::convert::{kv_error, net_error};
use crate::host::{Body, Frame, Host, HttpRequest, HttpResponse, Socket};
use crate::types::{KvError, NetError};

pub(crate) struct WitHost;

pub(crate) struct WitBody(http_client::Body);

pub(crate) struct WitSocket(websocket::Connection);

impl Body for WitBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        // `None`: the operator's grant decides the idle timeout.
        self.0.read(None).map_err(net_error)
    }

    fn read_all(&self) -> Result<Vec<u8>, NetError> {
        self.0.read_all().map_err(net_error)
    }
}

impl Socket for WitSocket {
    fn send_text(&self, text: &str) -> Result<(), NetError> {
        self.0
            .send(&websocket::Frame::Text(text.to_owned()))
            .map_err(net_error)
    }

    fn receive(&self) -> Result<Option<Frame>, NetError> {
        let frame = self.0.receive(None).map_err(net_error)?;
        Ok(frame.map(|f| match f {
            websocket::Frame::Text(t) => Frame::Text(t),
            websocket::Frame::Binary(b) => Frame::Binary(b),
        }))
    }

    fn close(&self) {
        self.0.close(1000, "done");
    }
}

impl Host for WitHost {
    type Body = WitBody;
    type Socket = WitSocket;

    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<WitBody>, NetError> {
        let req = http_client::Request {
            method: req.method.to_owned(),
            url: req.url.clone(),
            headers: req
                .headers
                .iter()
                .map(|(name, value)| http_client::Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: req.body.clone(),
            timeout_ms: None,
            max_redirects: req.max_redirects,
        };
        let resp = http_client::send(&req).map_err(net_error)?;
        Ok(HttpResponse {
            status: resp.status,
            body: WitBody(resp.body),
        })
    }

    fn ws_connect(&self, url: &str, ping_interval_ms: Option<u32>) -> Result<WitSocket, NetError> {
        let options = websocket::ConnectOptions {
            headers: Vec::new(),
            subprotocols: Vec::new(),
            ping_interval_ms,
            timeout_ms: None,
        };
        websocket::connect(url, &options)
            .map(WitSocket)
            .map_err(net_error)
    }

    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv::get(key).map_err(kv_error)
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value, None).map_err(kv_error)
    }

    fn update_credentials(&self, patch_json: &str) -> Result<(), String> {
        credentials::update(patch_json)
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn log_info(&self, message: &str) {
        log::log(log::Level::Info, message);
    }
}
