//! The host imports the hostile guest abuses (HTTP, config, KV), as one bound over the guest
//! SDK's capability traits so tests can fake them.

pub(crate) use gateway_guest::host::{Body, Config, Http, HttpRequest, Kv};

/// Everything an attack may call; the real host and the test fake both provide it.
pub(crate) trait Host: Http + Config + Kv {}

impl<T: Http + Config + Kv> Host for T {}
