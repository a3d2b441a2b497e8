//! A scripted in-memory host for native unit tests of the behaviours.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::host::{
    Body, Config, Credentials, Frame, Http, HttpRequest, HttpResponse, Kv, Log, Socket, WebSockets,
};
use crate::types::{KvError, NetError};

pub(crate) type Chunks = VecDeque<Result<Vec<u8>, NetError>>;

pub(crate) struct FakeBody(RefCell<Chunks>);

impl Body for FakeBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        self.0.borrow_mut().pop_front().transpose()
    }
}

#[derive(Default)]
pub(crate) struct FakeSocket {
    pub(crate) sent: Rc<RefCell<Vec<String>>>,
    pub(crate) incoming: RefCell<VecDeque<Frame>>,
    pub(crate) closed: Rc<Cell<bool>>,
}

impl Socket for FakeSocket {
    fn send_text(&self, text: &str) -> Result<(), NetError> {
        self.sent.borrow_mut().push(text.to_owned());
        Ok(())
    }

    fn receive(&self) -> Result<Option<Frame>, NetError> {
        Ok(self.incoming.borrow_mut().pop_front())
    }

    fn close(&self) {
        self.closed.set(true);
    }
}

#[derive(Default)]
pub(crate) struct FakeHost {
    pub(crate) config: HashMap<String, String>,
    /// Answers to `http_send`, in order: a status and body chunks, or a network error.
    pub(crate) responses: RefCell<VecDeque<Result<(u16, Chunks), NetError>>>,
    pub(crate) requests: RefCell<Vec<HttpRequest>>,
    pub(crate) socket: RefCell<Option<FakeSocket>>,
    pub(crate) ws_urls: RefCell<Vec<(String, Option<u32>)>>,
    pub(crate) kv: RefCell<HashMap<String, Vec<u8>>>,
    pub(crate) patches: RefCell<Vec<String>>,
    pub(crate) logs: RefCell<Vec<String>>,
}

impl FakeHost {
    pub(crate) fn with_config(pairs: &[(&str, &str)]) -> Self {
        Self {
            config: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Self::default()
        }
    }

    pub(crate) fn respond(&self, status: u16, chunks: &[&str]) {
        let chunks = chunks.iter().map(|c| Ok(c.as_bytes().to_vec())).collect();
        self.responses.borrow_mut().push_back(Ok((status, chunks)));
    }
}

impl Http for FakeHost {
    type Body = FakeBody;

    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<FakeBody>, NetError> {
        self.requests.borrow_mut().push(req.clone());
        let (status, chunks) = self
            .responses
            .borrow_mut()
            .pop_front()
            .unwrap_or(Err(NetError::Connect("no scripted response".to_owned())))?;
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: FakeBody(RefCell::new(chunks)),
        })
    }
}

impl WebSockets for FakeHost {
    type Socket = FakeSocket;

    fn ws_connect(&self, url: &str, ping_interval_ms: Option<u32>) -> Result<FakeSocket, NetError> {
        self.ws_urls.borrow_mut().push((url.to_owned(), ping_interval_ms));
        self.socket
            .borrow_mut()
            .take()
            .ok_or_else(|| NetError::Connect("no scripted socket".to_owned()))
    }
}

impl Kv for FakeHost {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.kv.borrow().get(key).cloned())
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.kv.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

impl Credentials for FakeHost {
    fn update_credentials(&self, patch_json: &str) -> Result<(), String> {
        self.patches.borrow_mut().push(patch_json.to_owned());
        Ok(())
    }
}

impl Config for FakeHost {
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
}

impl Log for FakeHost {
    fn log_info(&self, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
}
