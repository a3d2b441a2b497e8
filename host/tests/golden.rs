//! Golden transcripts: canonical event sequences → exact Claude SSE and OpenAI SSE bytes.
//! `BLESS=1 cargo test -p gateway-host --test golden` rewrites the expectations deliberately.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::Path;

use gateway_host::api::Encoder;
use gateway_host::api::claude::ClaudeEncoder;
use gateway_host::api::openai::OpenAiEncoder;
use gateway_host::canonical::Event;

fn encode(mut enc: impl Encoder, events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&enc.push(e));
    }
    out.push_str(&enc.finish());
    out
}

fn check(path: &Path, actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} missing: run with BLESS=1 to create it", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (BLESS=1 to accept deliberately)",
        path.display()
    );
}

#[test]
fn encoders_match_golden_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".events.json"))
        else {
            continue;
        };
        let events: Vec<Event> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let claude = encode(ClaudeEncoder::with_id("msg_golden", "test-model", 12), &events);
        check(&dir.join(format!("{name}.claude.sse")), &claude);
        let openai = encode(
            OpenAiEncoder::with_id("chatcmpl-golden", 1_700_000_000, "test-model", true, 12),
            &events,
        );
        check(&dir.join(format!("{name}.openai.sse")), &openai);
        cases += 1;
    }
    assert!(cases >= 4, "expected golden cases in {}", dir.display());
}
