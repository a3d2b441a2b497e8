//! Native entry point for the host's benchmark: the component's echo logic without WASM.

use crate::behaviour;
use crate::host::{
    Body, Config, Credentials, Frame, Http, HttpRequest, HttpResponse, Kv, Log, Socket, WebSockets,
};
use crate::types::{Account, ChatRequest, KvError, Message, NetError};

/// Runs the `echo` behaviour on `text` exactly as the component does and returns the number of
/// events streamed, so the benchmark can compare a WASM round trip with the native one.
pub fn echo_round_trip(text: &str) -> usize {
    let request = ChatRequest {
        model: "echo".to_owned(),
        messages: vec![Message {
            from_user: true,
            texts: vec![text.to_owned()],
        }],
    };
    let Ok(mut stream) = behaviour::chat(&Offline, &Account::default(), &request) else {
        return 0;
    };
    let mut events = 0;
    while let Ok(Some(batch)) = stream.next() {
        events += batch.len();
    }
    events
}

/// A host with no imports; `echo` never calls one.
struct Offline;

/// Uninhabited: `Offline` never opens a body or socket.
enum Never {}

fn offline() -> NetError {
    NetError::Denied("offline".to_owned())
}

impl Body for Never {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        match *self {}
    }
}

impl Socket for Never {
    fn send_text(&self, _: &str) -> Result<(), NetError> {
        match *self {}
    }

    fn receive(&self) -> Result<Option<Frame>, NetError> {
        match *self {}
    }

    fn close(&self) {
        match *self {}
    }
}

impl Http for Offline {
    type Body = Never;

    fn http_send(&self, _: &HttpRequest) -> Result<HttpResponse<Never>, NetError> {
        Err(offline())
    }
}

impl WebSockets for Offline {
    type Socket = Never;

    fn ws_connect(&self, _: &str, _: Option<u32>) -> Result<Never, NetError> {
        Err(offline())
    }
}

impl Kv for Offline {
    fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::Unavailable("offline".to_owned()))
    }

    fn kv_set(&self, _: &str, _: &[u8]) -> Result<(), KvError> {
        Err(KvError::Unavailable("offline".to_owned()))
    }
}

impl Credentials for Offline {
    fn update_credentials(&self, _: &str) -> Result<(), String> {
        Err("offline".to_owned())
    }
}

impl Config for Offline {
    fn config(&self, _: &str) -> Option<String> {
        None
    }
}

impl Log for Offline {
    fn log_info(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn echo_round_trip_counts_events() {
        // message-start, three deltas, usage + stop.
        assert_eq!(super::echo_round_trip("one two three"), 6);
    }
}
