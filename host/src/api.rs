//! Client-facing API codecs: request parsing into canonical form and event encoding.

pub mod claude;
pub mod openai;

use crate::canonical::{Event, Usage};
use crate::error::ApiError;

/// Turns canonical events into one API's stream framing.
pub trait Encoder: Send {
    /// The opening frame(s), sent as soon as the upstream accepted the request.
    fn open(&mut self) -> String;
    /// Feeds one event; returns the bytes it produced (possibly none).
    fn push(&mut self, event: &Event) -> String;
    /// Closes the response (final frames and terminator).
    fn finish(&mut self) -> String;
    /// Frames reporting a failure after the stream began.
    fn error(&mut self, err: &ApiError) -> String;
    /// A keep-alive frame for upstream silence.
    fn keepalive(&self) -> &'static str;
}

/// Later usage reports refine earlier ones, field by field.
pub(crate) fn merge_usage(into: &mut Usage, u: &Usage) {
    into.input_tokens = u.input_tokens.or(into.input_tokens);
    into.output_tokens = u.output_tokens.or(into.output_tokens);
    into.cache_read_input_tokens = u.cache_read_input_tokens.or(into.cache_read_input_tokens);
    into.cache_creation_input_tokens = u.cache_creation_input_tokens.or(into.cache_creation_input_tokens);
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client-visible text an event adds (for output-token estimates).
pub(crate) fn output_text(e: &Event) -> Option<&str> {
    match e {
        Event::TextDelta(t) | Event::ThinkingDelta(t) => Some(t),
        Event::ToolCallStart { name, .. } => Some(name),
        Event::ToolCallDelta { partial_json, .. } => Some(partial_json),
        _ => None,
    }
}

/// Output tokens: the upstream's figure, else the tokenizer's count of what was emitted.
pub(crate) fn output_tokens(usage: &Usage, emitted: &str) -> u32 {
    usage
        .output_tokens
        .unwrap_or_else(|| crate::tokens::count_text(emitted))
}
