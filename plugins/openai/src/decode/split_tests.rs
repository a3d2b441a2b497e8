//! Property: however the body is split into chunks, the decoded events are the same.

use proptest::prelude::*;
use serde_json::json;

use super::StreamDecoder;
use super::tests::sse;
use crate::types::Event;

/// A realistic stream: reasoning, text, two interleaved tool calls, usage, `[DONE]`; with CRLF
/// line ends and a comment, so splits also land inside `\r\n` and multi-byte characters.
fn sample() -> Vec<u8> {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| json!({ "id": "chatcmpl-9", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
    let call = |index: u32, id: &str, name: &str, args: &str| {
        let mut call = json!({ "index": index, "function": { "arguments": args } });
        if !id.is_empty() {
            call["id"] = id.into();
            call["function"]["name"] = name.into();
        }
        chunk(json!({ "tool_calls": [call] }), json!(null))
    };
    let body = sse(&[
        chunk(
            json!({ "role": "assistant", "reasoning_content": "Thinking… " }),
            json!(null),
        ),
        chunk(json!({ "reasoning_content": "done." }), json!(null)),
        chunk(json!({ "content": "Looking up ☀️ " }), json!(null)),
        chunk(json!({ "content": "both." }), json!(null)),
        call(0, "call_a", "weather", ""),
        call(1, "call_b", "time", "{\"tz\""),
        call(0, "", "", "{\"city\":"),
        call(1, "", "", ":\"CET\"}"),
        call(0, "", "", "\"Zürich\"}"),
        chunk(json!({}), json!("tool_calls")),
        json!({ "id": "chatcmpl-9", "choices": [],
                "usage": { "prompt_tokens": 40, "completion_tokens": 25 } }),
    ]);
    format!(": OPENROUTER PROCESSING\r\n\r\n{}", body.replace('\n', "\r\n")).into_bytes()
}

fn decode(chunks: &[&[u8]]) -> Vec<Event> {
    let mut decoder = StreamDecoder::default();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(decoder.push(chunk).expect("sample decodes"));
    }
    events.extend(decoder.finish().expect("sample ends cleanly"));
    events
}

#[test]
fn sample_decodes_to_the_expected_shape() {
    let events = decode(&[&sample()]);
    assert_eq!(events.len(), 15);
    assert!(matches!(events.first(), Some(Event::MessageStart { .. })));
    assert_eq!(
        events.last(),
        Some(&Event::Stop(crate::types::StopReason::ToolUse))
    );
}

proptest! {
    #[test]
    fn any_split_decodes_like_the_whole(mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let bytes = sample();
        let mut at: Vec<usize> = cuts.drain(..).map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for to in at.into_iter().chain([bytes.len()]) {
            chunks.push(&bytes[from..to]);
            from = to;
        }
        prop_assert_eq!(decode(&chunks), decode(&[&bytes]));
    }
}
