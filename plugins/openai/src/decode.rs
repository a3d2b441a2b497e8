//! Chat Completions responses to canonical events: SSE chunks or a whole JSON completion.

use std::collections::BTreeSet;

use gateway_guest::ProviderError;
use gateway_guest::sse::SseDecoder;
use serde_json::Value;

use crate::classify;
use crate::types::{Event, StopReason, Usage};

/// The data payload that ends an OpenAI stream.
const DONE: &str = "[DONE]";

/// Decodes a streamed response incrementally: feed it body chunks split anywhere.
#[derive(Debug, Default)]
pub(crate) struct StreamDecoder {
    sse: SseDecoder,
    chunks: ChunkDecoder,
}

impl StreamDecoder {
    /// Decodes one body chunk. An error aborts the response, so the events decoded before it
    /// in the same chunk are not returned.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, ProviderError> {
        let mut events = Vec::new();
        for data in self.sse.push(bytes) {
            if self.chunks.stopped {
                // Like the upstreams' own SDKs, ignore anything after `[DONE]`.
                break;
            }
            if data.trim() == DONE {
                self.chunks.finish(&mut events)?;
            } else {
                self.chunks.chunk(&parse(data.as_bytes())?, &mut events)?;
            }
        }
        Ok(events)
    }

    /// The body ended: closes the response if `[DONE]` has not.
    pub(crate) fn finish(&mut self) -> Result<Vec<Event>, ProviderError> {
        let mut events = Vec::new();
        if !self.chunks.stopped {
            self.chunks.finish(&mut events)?;
        }
        Ok(events)
    }

    /// Whether `stop` was emitted; nothing after it matters.
    pub(crate) fn is_stopped(&self) -> bool {
        self.chunks.stopped
    }
}

/// Decodes a non-streamed `chat.completion`, which some compatible servers send despite
/// `stream: true`. Its choice's `message` is decoded as the `delta` of one big chunk.
pub(crate) fn completion_events(body: &[u8]) -> Result<Vec<Event>, ProviderError> {
    let mut completion = parse(body)?;
    let choices = completion.get_mut("choices").and_then(Value::as_array_mut);
    for choice in choices.into_iter().flatten().filter_map(Value::as_object_mut) {
        if let Some(message) = choice.remove("message") {
            choice.insert("delta".to_owned(), message);
        }
    }
    let mut decoder = ChunkDecoder::default();
    let mut events = Vec::new();
    decoder.chunk(&completion, &mut events)?;
    decoder.finish(&mut events)?;
    Ok(events)
}

/// The chunk-to-events state machine. Fields are read leniently (`Value` lookups rather than
/// typed structs) because compatible servers differ in what they omit or set to `null`.
#[derive(Debug, Default)]
struct ChunkDecoder {
    /// `message-start` was emitted.
    started: bool,
    /// Indexes of the tool calls started so far, ordered so they end in index order.
    tool_calls: BTreeSet<u32>,
    /// A `finish_reason` ended the tool calls; later tool deltas are ignored.
    tool_calls_ended: bool,
    stop_reason: Option<StopReason>,
    /// `stop` was emitted.
    stopped: bool,
}

impl ChunkDecoder {
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<Event>) -> Result<(), ProviderError> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(classify::stream_error(error));
        }
        if !self.started {
            self.started = true;
            let id = chunk.get("id").and_then(Value::as_str).map(str::to_owned);
            out.push(Event::MessageStart { id, usage: None });
        }
        // We never ask for more than one choice (`n` is not sent), so choice 0 is the answer.
        if let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) {
            if let Some(delta) = choice.get("delta") {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.end_tool_calls(out);
                self.stop_reason = Some(stop_reason(reason));
            }
        }
        // With `include_usage` the last chunk before `[DONE]` has the usage and no choices.
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(Event::Usage(usage_of(usage)));
        }
        Ok(())
    }

    fn delta(&mut self, delta: &Value, out: &mut Vec<Event>) {
        let text = |key| non_empty(delta.get(key));
        // DeepSeek and vLLM say `reasoning_content`, OpenRouter and Ollama say `reasoning`.
        if let Some(thinking) = text("reasoning_content").or_else(|| text("reasoning")) {
            out.push(Event::ThinkingDelta(thinking.to_owned()));
        }
        if let Some(content) = text("content") {
            out.push(Event::TextDelta(content.to_owned()));
        }
        // A refusal is what the model says instead of an answer, so the client sees it as text.
        if let Some(refusal) = text("refusal") {
            out.push(Event::TextDelta(refusal.to_owned()));
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for (position, call) in calls.into_iter().flatten().enumerate() {
            self.tool_call(position, call, out);
        }
    }

    /// One `tool_calls[]` entry: the first one of an index carries its id and name, later
    /// ones pieces of the arguments. Parallel calls interleave by index.
    fn tool_call(&mut self, position: usize, call: &Value, out: &mut Vec<Event>) {
        if self.tool_calls_ended {
            return;
        }
        // Some compatible servers omit `index`; the position in the list is the best guess.
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let function = call.get("function");
        if self.tool_calls.insert(index) {
            let id = non_empty(call.get("id")).map_or_else(|| format!("call_{index}"), str::to_owned);
            let name = non_empty(function.and_then(|f| f.get("name")))
                .unwrap_or_default()
                .to_owned();
            out.push(Event::ToolCallStart { index, id, name });
        }
        if let Some(arguments) = non_empty(function.and_then(|f| f.get("arguments"))) {
            out.push(Event::ToolCallDelta {
                index,
                partial_json: arguments.to_owned(),
            });
        }
    }

    fn end_tool_calls(&mut self, out: &mut Vec<Event>) {
        if !std::mem::replace(&mut self.tool_calls_ended, true) {
            out.extend(self.tool_calls.iter().map(|&index| Event::ToolCallEnd(index)));
        }
    }

    /// Ends the response: open tool calls, then `stop`, exactly once.
    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), ProviderError> {
        if !self.started {
            return Err(ProviderError::Transient(
                "upstream closed the stream without data".to_owned(),
            ));
        }
        self.end_tool_calls(out);
        let reason = match self.stop_reason {
            // Some compatible servers finish tool-call turns with `stop` (or not at all); the
            // client must still see `tool-use` to run the calls.
            Some(StopReason::EndTurn) | None if !self.tool_calls.is_empty() => StopReason::ToolUse,
            Some(reason) => reason,
            None => StopReason::EndTurn,
        };
        out.push(Event::Stop(reason));
        self.stopped = true;
        Ok(())
    }
}

fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// A string field that is present and not empty; servers send `""` and `null` for "nothing".
fn non_empty(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn usage_of(usage: &Value) -> Usage {
    let tokens = |value: Option<&Value>| {
        value
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Usage {
        input_tokens: tokens(usage.get("prompt_tokens")),
        output_tokens: tokens(usage.get("completion_tokens")),
        cache_read_input_tokens: tokens(usage.pointer("/prompt_tokens_details/cached_tokens")),
        cache_creation_input_tokens: None,
    }
}

fn parse(bytes: &[u8]) -> Result<Value, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| ProviderError::Upstream {
        status: 502,
        message: format!("malformed response chunk: {e}"),
    })
}

#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;
