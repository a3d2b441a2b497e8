//! Tests of the attacks that end on their own, against a fake host.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use gateway_guest::KvError;
use gateway_guest::host::{Config, Http, HttpResponse, Kv};

use super::*;

struct FakeBody(RefCell<VecDeque<Result<Vec<u8>, NetError>>>);

impl Body for FakeBody {
    fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        self.0.borrow_mut().pop_front().transpose()
    }
}

#[derive(Default)]
struct FakeHost {
    config: HashMap<&'static str, &'static str>,
    /// Answer per URL; URLs without one are denied.
    answers: HashMap<String, Result<u16, NetError>>,
    body: RefCell<VecDeque<Result<Vec<u8>, NetError>>>,
    requested: RefCell<Vec<(String, u8)>>,
    kv_capacity: u64,
    kv_writes: Cell<u64>,
}

impl Http for FakeHost {
    type Body = FakeBody;

    fn http_send(&self, req: &HttpRequest) -> Result<HttpResponse<FakeBody>, NetError> {
        assert_eq!((req.method, req.body.len()), ("GET", 0));
        let url = &req.url;
        self.requested.borrow_mut().push((url.clone(), req.max_redirects));
        let status = self
            .answers
            .get(url)
            .cloned()
            .unwrap_or_else(|| Err(NetError::Denied(url.clone())))?;
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: FakeBody(RefCell::new(self.body.take())),
        })
    }
}

impl Config for FakeHost {
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).map(|v| (*v).to_owned())
    }
}

impl Kv for FakeHost {
    fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(None)
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        let n = self.kv_writes.get();
        assert_eq!(key, format!("k{n}"));
        assert_eq!(value.len(), 1024);
        if n == self.kv_capacity {
            return Err(KvError::QuotaExceeded("keys".to_owned()));
        }
        self.kv_writes.set(n + 1);
        Ok(())
    }
}

fn reply_text(host: &FakeHost, model: &str) -> String {
    let mut stream = chat(host, model).expect("chat starts");
    let batch = stream.next().expect("next").expect("one batch");
    assert_eq!(stream.next(), Ok(None));
    assert_eq!(batch.last(), Some(&Event::Stop(StopReason::EndTurn)));
    match &batch[0] {
        Event::TextDelta(t) => t.clone(),
        _ => String::new(),
    }
}

#[test]
fn ok_replies_ok() {
    assert_eq!(reply_text(&FakeHost::default(), "ok"), "ok");
}

#[test]
#[should_panic(expected = "hostile trap")]
fn trap_panics() {
    let _ = chat(&FakeHost::default(), "trap");
}

#[test]
fn forbidden_reports_every_denial() {
    let host = FakeHost {
        config: HashMap::from([("forbidden_url", "http://10.0.0.1/")]),
        ..FakeHost::default()
    };
    let err = chat(&host, "forbidden").err();
    let Some(ProviderError::Internal(message)) = err else {
        panic!("expected internal, got {err:?}");
    };
    assert!(message.starts_with("denied: "));
    assert!(message.contains(METADATA_URL) && message.contains("http://10.0.0.1/"));
    assert!(host.requested.borrow().iter().all(|(_, hops)| *hops == 5));
}

#[test]
fn forbidden_shouts_about_a_leak() {
    let host = FakeHost {
        answers: HashMap::from([(METADATA_URL.to_owned(), Ok(200))]),
        ..FakeHost::default()
    };
    assert_eq!(reply_text(&host, "forbidden"), "LEAK 200");
}

#[test]
fn forbidden_distinguishes_other_failures() {
    let host = FakeHost {
        answers: HashMap::from([(METADATA_URL.to_owned(), Err(NetError::Timeout))]),
        ..FakeHost::default()
    };
    assert!(matches!(
        chat(&host, "forbidden"),
        Err(ProviderError::Transient(_))
    ));
}

fn giant_host(chunks: Vec<Result<Vec<u8>, NetError>>) -> FakeHost {
    FakeHost {
        config: HashMap::from([("upstream_url", "http://up.test")]),
        answers: HashMap::from([("http://up.test/giant".to_owned(), Ok(200))]),
        body: RefCell::new(chunks.into()),
        ..FakeHost::default()
    }
}

#[test]
fn giant_body_counts_bytes_to_the_end() {
    let host = giant_host(vec![Ok(vec![0; 10]), Ok(vec![0; 5])]);
    assert_eq!(reply_text(&host, "giant-body"), "15");
}

#[test]
fn giant_body_maps_the_cap_to_upstream_error() {
    let host = giant_host(vec![Ok(vec![0; 10]), Err(NetError::TooLarge(10))]);
    let err = chat(&host, "giant-body").err();
    assert_eq!(
        err,
        Some(ProviderError::Upstream {
            status: 502,
            message: "body too large".to_owned()
        })
    );
}

#[test]
fn giant_output_never_ends() {
    let mut stream = chat(&FakeHost::default(), "giant-output").expect("starts");
    for _ in 0..3 {
        let batch = stream.next().expect("next").expect("a batch");
        assert_eq!(batch.len(), GIANT_DELTAS);
        assert_eq!(batch[0], Event::TextDelta("x".repeat(GIANT_DELTA_BYTES)));
    }
}

#[test]
fn kvflood_reports_where_the_host_stopped_it() {
    let host = FakeHost {
        kv_capacity: 7,
        ..FakeHost::default()
    };
    let err = chat(&host, "kvflood").err();
    assert_eq!(
        err,
        Some(ProviderError::Internal(
            r#"kv refused after 7 writes: QuotaExceeded("keys")"#.to_owned()
        ))
    );
}

#[test]
fn unknown_model_is_not_found() {
    assert!(matches!(
        chat(&FakeHost::default(), "nope"),
        Err(ProviderError::ModelNotFound(_))
    ));
}
