//! The capability traits of [`crate::host`] over the real host imports.

use crate::bindings::gateway::provider::{config, credentials, http_client, kv, log, websocket};
use crate::error::{KvError, NetError};
use crate::host::{
    Body, Config, Credentials, Frame, Http, HttpRequest, HttpResponse, Kv, Log, Socket, WebSockets,
};

/// The real host. Only usable inside a component: natively, the imports do not exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct WitHost;

pub struct WitBody(http_client::Body);

pub struct WitSocket(websocket::Connection);

impl Body for WitBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        // `None`: the operator's grant decides the idle timeout.
        self.0.read(None).map_err(Into::into)
    }

    fn read_all(&self) -> Result<Vec<u8>, NetError> {
        self.0.read_all().map_err(Into::into)
    }
}

impl Http for WitHost {
    type Body = WitBody;

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
            // `None`: the operator's grant decides how long the response head may take.
            timeout_ms: None,
            max_redirects: req.max_redirects,
        };
        let response = http_client::send(&req)?;
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: WitBody(response.body),
        })
    }
}

impl Socket for WitSocket {
    fn send_text(&self, text: &str) -> Result<(), NetError> {
        Ok(self.0.send(&websocket::Frame::Text(text.to_owned()))?)
    }

    fn receive(&self) -> Result<Option<Frame>, NetError> {
        let frame = self.0.receive(None)?;
        Ok(frame.map(|f| match f {
            websocket::Frame::Text(t) => Frame::Text(t),
            websocket::Frame::Binary(b) => Frame::Binary(b),
        }))
    }

    fn close(&self) {
        self.0.close(1000, "done");
    }
}

impl WebSockets for WitHost {
    type Socket = WitSocket;

    fn ws_connect(&self, url: &str, ping_interval_ms: Option<u32>) -> Result<WitSocket, NetError> {
        let options = websocket::ConnectOptions {
            headers: Vec::new(),
            subprotocols: Vec::new(),
            ping_interval_ms,
            timeout_ms: None,
        };
        Ok(websocket::connect(url, &options).map(WitSocket)?)
    }
}

impl Kv for WitHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(kv::get(key)?)
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        Ok(kv::set(key, value, None)?)
    }
}

impl Config for WitHost {
    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }
}

impl Credentials for WitHost {
    fn update_credentials(&self, patch_json: &str) -> Result<(), String> {
        credentials::update(patch_json)
    }
}

impl Log for WitHost {
    fn log_info(&self, message: &str) {
        log::log(log::Level::Info, message);
    }
}
