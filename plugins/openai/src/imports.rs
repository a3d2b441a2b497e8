//! WIT glue: the core's `Host` trait implemented over the real host imports.

use crate::bindings::gateway::provider::{config, http_client};
use crate::convert::net_error;
use crate::error::NetError;
use crate::host::{Body, Host, HttpRequest, HttpResponse};

pub(crate) struct WitHost;

pub(crate) struct WitBody(http_client::Body);

impl Body for WitBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        // `None`: the operator's grant decides the idle timeout.
        self.0.read(None).map_err(net_error)
    }

    fn read_all(&self) -> Result<Vec<u8>, NetError> {
        self.0.read_all().map_err(net_error)
    }
}

impl Host for WitHost {
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
        let response = http_client::send(&req).map_err(net_error)?;
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: WitBody(response.body),
        })
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }
}
