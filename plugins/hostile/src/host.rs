//! The host imports the hostile guest abuses, as a trait so tests can fake them.

use crate::types::{KvError, NetError};

pub(crate) trait Body {
    /// The next chunk, or `None` at the end of the body.
    fn read(&self) -> Result<Option<Vec<u8>>, NetError>;
}

pub(crate) trait Host {
    type Body: Body;

    /// Sends a bodiless GET; returns the status and the streaming body.
    fn http_get(&self, url: &str, max_redirects: u8) -> Result<(u16, Self::Body), NetError>;
    fn config(&self, key: &str) -> Option<String>;
    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
}
