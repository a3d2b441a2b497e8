//! Decoding of text, reasoning, tool calls, usage, finish reasons, JSON completions and errors.

use serde_json::{Value, json};

use super::*;
use crate::types::Event as E;

/// An SSE body with one `data:` event per chunk, ended by `[DONE]`.
pub(super) fn sse(chunks: &[Value]) -> String {
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }] })
}

fn decode(body: &str) -> Result<Vec<Event>, ProviderError> {
    let mut decoder = StreamDecoder::default();
    let mut events = decoder.push(body.as_bytes())?;
    events.extend(decoder.finish()?);
    Ok(events)
}

fn start() -> Event {
    E::MessageStart {
        id: Some("chatcmpl-1".into()),
        usage: None,
    }
}

fn text(t: &str) -> Event {
    E::TextDelta(t.into())
}

#[test]
fn text_with_usage_and_done() -> Result<(), ProviderError> {
    let body = sse(&[
        chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
        chunk(json!({ "content": "Hel" }), Value::Null),
        chunk(json!({ "content": "lo" }), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({ "id": "chatcmpl-1", "choices": [], "usage": {
            "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
            "prompt_tokens_details": { "cached_tokens": 8 } } }),
    ]);
    let usage = Usage {
        input_tokens: Some(12),
        output_tokens: Some(3),
        cache_read_input_tokens: Some(8),
        cache_creation_input_tokens: None,
    };
    let expected = vec![
        start(),
        text("Hel"),
        text("lo"),
        E::Usage(usage),
        E::Stop(StopReason::EndTurn),
    ];
    assert_eq!(decode(&body)?, expected);
    Ok(())
}

#[test]
fn reasoning_under_either_name_and_refusal_as_text() -> Result<(), ProviderError> {
    let body = sse(&[
        chunk(json!({ "reasoning_content": "Let me" }), Value::Null),
        chunk(json!({ "reasoning": " think", "content": null }), Value::Null),
        chunk(json!({ "refusal": "I can't help with that." }), json!("stop")),
    ]);
    let expected = vec![
        start(),
        E::ThinkingDelta("Let me".into()),
        E::ThinkingDelta(" think".into()),
        text("I can't help with that."),
        E::Stop(StopReason::EndTurn),
    ];
    assert_eq!(decode(&body)?, expected);
    Ok(())
}

#[test]
fn parallel_tool_calls_interleave_and_end_in_index_order() -> Result<(), ProviderError> {
    let call = |index: u32, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut function = json!({ "arguments": args });
        if let Some(name) = name {
            function["name"] = name.into();
        }
        chunk(
            json!({ "tool_calls": [{ "index": index, "id": id, "function": function }] }),
            Value::Null,
        )
    };
    let body = sse(&[
        call(1, Some("call_b"), Some("weather"), ""),
        call(0, None, Some("time"), "{\"tz\":"),
        call(1, None, None, "{\"city\":\"Rome\"}"),
        call(0, None, None, "\"CET\"}"),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let delta = |index, json: &str| E::ToolCallDelta {
        index,
        partial_json: json.into(),
    };
    let expected = vec![
        start(),
        E::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "weather".into(),
        },
        E::ToolCallStart {
            index: 0,
            id: "call_0".into(),
            name: "time".into(),
        },
        delta(0, "{\"tz\":"),
        delta(1, "{\"city\":\"Rome\"}"),
        delta(0, "\"CET\"}"),
        E::ToolCallEnd(0),
        E::ToolCallEnd(1),
        E::Stop(StopReason::ToolUse),
    ];
    assert_eq!(decode(&body)?, expected);
    Ok(())
}

#[test]
fn finish_reasons() -> Result<(), ProviderError> {
    let cases = [
        ("stop", StopReason::EndTurn),
        ("length", StopReason::MaxTokens),
        ("tool_calls", StopReason::ToolUse),
        ("function_call", StopReason::ToolUse),
        ("content_filter", StopReason::ContentFilter),
        ("eos", StopReason::EndTurn),
    ];
    for (finish_reason, expected) in cases {
        let events = decode(&sse(&[chunk(json!({ "content": "x" }), json!(finish_reason))]))?;
        assert_eq!(events.last(), Some(&E::Stop(expected)), "{finish_reason}");
    }
    Ok(())
}

#[test]
fn tool_calls_imply_tool_use_even_without_a_matching_finish_reason() -> Result<(), ProviderError> {
    let call = json!({ "tool_calls": [{ "id": "c", "function": { "name": "f", "arguments": "{}" } }] });
    for finish_reason in [json!("stop"), Value::Null] {
        let events = decode(&sse(&[chunk(call.clone(), finish_reason)]))?;
        assert_eq!(
            &events[events.len() - 2..],
            [E::ToolCallEnd(0), E::Stop(StopReason::ToolUse)]
        );
    }
    Ok(())
}

#[test]
fn eof_without_done_still_stops_once() -> Result<(), ProviderError> {
    let mut decoder = StreamDecoder::default();
    let body = format!("data: {}\n\n", chunk(json!({ "content": "hi" }), Value::Null));
    assert_eq!(decoder.push(body.as_bytes())?, [start(), text("hi")]);
    assert_eq!(decoder.finish()?, [E::Stop(StopReason::EndTurn)]);
    assert!(decoder.is_stopped());
    assert_eq!(decoder.finish()?, []);
    Ok(())
}

#[test]
fn nothing_after_done_counts() -> Result<(), ProviderError> {
    let body = format!(
        "{}data: {{\"error\":{{\"message\":\"late\"}}}}\n\n",
        sse(&[chunk(json!({}), json!("stop"))])
    );
    assert_eq!(decode(&body)?, [start(), E::Stop(StopReason::EndTurn)]);
    Ok(())
}

#[test]
fn empty_stream_is_transient() {
    let expected = Err(ProviderError::Transient(
        "upstream closed the stream without data".into(),
    ));
    assert_eq!(decode(""), expected);
    assert_eq!(decode(": keep-alive\n\n"), expected);
    assert_eq!(decode("data: [DONE]\n\n"), expected);
}

#[test]
fn error_chunk_fails_the_stream() {
    let body = "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    let expected = ProviderError::Upstream {
        status: 502,
        message: "The server had an error".into(),
    };
    assert_eq!(decode(body), Err(expected));
    let quota = "data: {\"error\":{\"message\":\"q\",\"code\":\"insufficient_quota\"}}\n\n";
    assert!(matches!(decode(quota), Err(ProviderError::QuotaExhausted { .. })));
}

#[test]
fn malformed_chunk_is_an_upstream_failure() {
    assert!(matches!(
        decode("data: {not json\n\n"),
        Err(ProviderError::Upstream { status: 502, .. })
    ));
}

#[test]
fn json_completion_becomes_the_same_events() -> Result<(), ProviderError> {
    let completion = json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
            "tool_calls": [{ "id": "call_x", "type": "function",
                             "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }] } }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 7 }
    });
    let expected = vec![
        start(),
        E::ThinkingDelta("hmm".into()),
        text("Checking."),
        E::ToolCallStart {
            index: 0,
            id: "call_x".into(),
            name: "weather".into(),
        },
        E::ToolCallDelta {
            index: 0,
            partial_json: "{\"city\":\"Oslo\"}".into(),
        },
        E::ToolCallEnd(0),
        E::Usage(Usage {
            input_tokens: Some(5),
            output_tokens: Some(7),
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
        }),
        E::Stop(StopReason::ToolUse),
    ];
    assert_eq!(completion_events(completion.to_string().as_bytes())?, expected);
    let error = json!({ "error": { "message": "bad", "code": 400 } }).to_string();
    assert_eq!(
        completion_events(error.as_bytes()),
        Err(ProviderError::BadRequest("bad".into()))
    );
    Ok(())
}
