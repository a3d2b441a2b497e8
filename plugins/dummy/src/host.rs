//! The host imports the dummy uses: every capability of the guest SDK, as one bound.

pub(crate) use gateway_guest::host::{
    Body, Config, Credentials, Frame, Http, HttpRequest, HttpResponse, Kv, Log, Socket, WebSockets,
};

/// Everything a behaviour may call; the real host and the test fake both provide it.
pub(crate) trait Host: Http + WebSockets + Kv + Config + Credentials + Log {}

impl<T: Http + WebSockets + Kv + Config + Credentials + Log> Host for T {}
