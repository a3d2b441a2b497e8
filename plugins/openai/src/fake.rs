//! A scripted in-memory host and a request fixture for native unit tests.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use gateway_guest::NetError;

use crate::host::{Body, Config, Http, HttpRequest, HttpResponse};
use crate::types::{ChatRequest, ClientApi, Message};

pub(crate) type Chunks = VecDeque<Result<Vec<u8>, NetError>>;

pub(crate) struct FakeBody(RefCell<Chunks>);

impl FakeBody {
    pub(crate) fn new(chunks: &[&str]) -> Self {
        Self(RefCell::new(
            chunks.iter().map(|c| Ok(c.as_bytes().to_vec())).collect(),
        ))
    }

    /// The body fails with `error` after its chunks, like a connection dropped mid-stream.
    pub(crate) fn then_fail(self, error: NetError) -> Self {
        self.0.borrow_mut().push_back(Err(error));
        self
    }
}

impl Body for FakeBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        self.0.borrow_mut().pop_front().transpose()
    }
}

type Scripted = Result<(u16, Vec<(String, String)>, FakeBody), NetError>;

#[derive(Default)]
pub(crate) struct FakeHost {
    pub(crate) config: HashMap<String, String>,
    /// Answers to `http_send`, in order.
    pub(crate) responses: RefCell<VecDeque<Scripted>>,
    /// Every request sent, in order.
    pub(crate) requests: RefCell<Vec<HttpRequest>>,
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

    /// Scripts the next response: a status, headers and the body's chunks.
    pub(crate) fn respond(&self, status: u16, headers: &[(&str, &str)], chunks: &[&str]) {
        self.respond_with(status, headers, FakeBody::new(chunks));
    }

    pub(crate) fn respond_with(&self, status: u16, headers: &[(&str, &str)], body: FakeBody) {
        let headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        self.responses.borrow_mut().push_back(Ok((status, headers, body)));
    }

    pub(crate) fn fail(&self, error: NetError) {
        self.responses.borrow_mut().push_back(Err(error));
    }

    /// The last request sent.
    pub(crate) fn request(&self) -> HttpRequest {
        self.requests
            .borrow()
            .last()
            .cloned()
            .expect("a request was sent")
    }

    /// The last request's body as JSON.
    pub(crate) fn request_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.request().body).expect("request body is JSON")
    }
}

impl Http for FakeHost {
    type Body = FakeBody;

    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<FakeBody>, NetError> {
        self.requests.borrow_mut().push(req.clone());
        let (status, headers, body) = self
            .responses
            .borrow_mut()
            .pop_front()
            .unwrap_or(Err(NetError::Connect("no scripted response".to_owned())))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl Config for FakeHost {
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
}

/// A Claude-client request for `gpt-4o` with these messages and nothing else set.
pub(crate) fn chat_request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        upstream_model: "gpt-4o".into(),
        client_api: ClientApi::ClaudeMessages,
        system: Vec::new(),
        messages,
        tools: Vec::new(),
        tool_choice: None,
        parallel_tool_calls: None,
        max_tokens: None,
        temperature: None,
        top_p: None,
        stop_sequences: Vec::new(),
        reasoning_effort: None,
        response_format_json: None,
        extra_json: "{}".into(),
    }
}
