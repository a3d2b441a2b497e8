//! The host imports this channel uses (HTTP and its config), as one bound over the guest SDK's
//! capability traits, so the core runs against the real host or a fake.

pub(crate) use gateway_guest::host::{Body, Config, Http, HttpRequest, HttpResponse};

/// Everything the channel may call; the real host and the test fake both provide it.
pub(crate) trait Host: Http + Config {}

impl<T: Http + Config> Host for T {}
