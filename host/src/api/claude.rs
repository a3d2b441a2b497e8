//! Claude Messages API: request parsing (`request`) and event encoding (SSE and JSON).

mod request;

pub use request::parse_request;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Encoder;
use crate::canonical::{Event, StopReason, Usage};
use crate::error::ApiError;

pub fn stop_reason_str(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::ContentFilter => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
    }
}

/// Which content block is open.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking,
    Tool(u32),
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    json: String,
    ended: bool,
}

/// Turns canonical events into Claude SSE frames. Claude blocks are strictly sequential, so
/// a tool call that starts while another is open is buffered and emitted when its turn comes.
pub struct ClaudeEncoder {
    id: String,
    model: String,
    started: bool,
    next_index: u32,
    open: Option<(Open, u32)>,
    pending: BTreeMap<u32, PendingCall>,
    usage: Usage,
    stop: Option<StopReason>,
    saw_tool: bool,
    prompt_estimate: u32,
    /// Everything emitted, for an output-token estimate when the upstream reports none.
    emitted: String,
    /// Text that arrived while a tool block was open; emitted once the tool blocks close.
    late_text: String,
    /// Thinking events that arrived while a tool block was open; replayed likewise.
    late_events: Vec<Event>,
    out: String,
}

impl ClaudeEncoder {
    /// `prompt_estimate` fills `message_start.usage.input_tokens` when the upstream reports
    /// input usage only at the end (or never).
    pub fn new(model: &str, prompt_estimate: u32) -> Self {
        Self::with_id(
            &format!("msg_{}", uuid::Uuid::new_v4().simple()),
            model,
            prompt_estimate,
        )
    }

    /// With a fixed message id (golden tests).
    pub fn with_id(id: &str, model: &str, prompt_estimate: u32) -> Self {
        ClaudeEncoder {
            id: id.to_owned(),
            model: model.to_owned(),
            started: false,
            next_index: 0,
            open: None,
            pending: BTreeMap::new(),
            usage: Usage::default(),
            stop: None,
            saw_tool: false,
            prompt_estimate,
            emitted: String::new(),
            late_text: String::new(),
            late_events: Vec::new(),
            out: String::new(),
        }
    }

    fn frame(&mut self, event: &str, data: Value) {
        self.out.push_str("event: ");
        self.out.push_str(event);
        self.out.push_str("\ndata: ");
        self.out.push_str(&data.to_string());
        self.out.push_str("\n\n");
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.usage.input_tokens.unwrap_or(self.prompt_estimate), "output_tokens": 0},
        });
        self.frame(
            "message_start",
            json!({"type": "message_start", "message": message}),
        );
    }

    fn close_open(&mut self) {
        if let Some((_, index)) = self.open.take() {
            self.frame(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open_block(&mut self, kind: Open, block: Value) -> u32 {
        self.close_open();
        let index = self.next_index;
        self.next_index += 1;
        self.frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        self.open = Some((kind, index));
        index
    }

    fn delta(&mut self, index: u32, delta: Value) {
        self.frame(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    /// Whether a tool block is open (others must wait in `pending`).
    fn tool_open(&self) -> bool {
        matches!(self.open, Some((Open::Tool(_), _)))
    }

    fn emit_tool(&mut self, call: u32) {
        let Some(p) = self.pending.remove(&call) else {
            return;
        };
        let index = self.open_block(
            Open::Tool(call),
            json!({"type": "tool_use", "id": p.id, "name": p.name, "input": {}}),
        );
        if !p.json.is_empty() {
            self.delta(index, json!({"type": "input_json_delta", "partial_json": p.json}));
        }
        if p.ended {
            self.close_open();
            self.flush_next_tool();
        } else {
            self.pending.insert(
                call,
                PendingCall {
                    ended: false,
                    ..PendingCall::default()
                },
            );
        }
    }

    fn flush_next_tool(&mut self) {
        if let Some((&call, _)) = self.pending.iter().find(|(_, p)| !p.id.is_empty()) {
            self.emit_tool(call);
        } else if !self.late_events.is_empty() {
            for e in std::mem::take(&mut self.late_events) {
                let out = self.push(&e);
                self.out.push_str(&out);
            }
            self.flush_next_tool();
        } else if !self.late_text.is_empty() {
            let text = std::mem::take(&mut self.late_text);
            let index = self.open_block(Open::Text, json!({"type": "text", "text": ""}));
            self.delta(index, json!({"type": "text_delta", "text": text}));
        }
    }
}

impl Encoder for ClaudeEncoder {
    fn open(&mut self) -> String {
        self.start();
        std::mem::take(&mut self.out)
    }

    fn push(&mut self, event: &Event) -> String {
        if let Some(t) = super::output_text(event) {
            self.emitted.push_str(t);
        }
        if let Event::MessageStart { usage: Some(u), .. } | Event::Usage(u) = event {
            super::merge_usage(&mut self.usage, u);
        }
        if !matches!(event, Event::MessageStart { .. } | Event::Usage(_)) || self.started {
            self.start();
        }
        match event {
            Event::MessageStart { .. } | Event::Usage(_) | Event::Media(_) => {}
            Event::TextDelta(t) => {
                let index = match self.open {
                    Some((Open::Text, i)) => i,
                    _ if self.tool_open() => {
                        self.late_text.push_str(t);
                        return std::mem::take(&mut self.out);
                    }
                    _ => self.open_block(Open::Text, json!({"type": "text", "text": ""})),
                };
                self.delta(index, json!({"type": "text_delta", "text": t}));
            }
            // Claude blocks are sequential: closing an open tool block for thinking would cut its
            // input short, so thinking that arrives meanwhile waits like late text does.
            Event::ThinkingDelta(_) | Event::ThinkingSignature(_) if self.tool_open() => {
                self.late_events.push(event.clone());
            }
            Event::ThinkingDelta(t) => {
                let index = match self.open {
                    Some((Open::Thinking, i)) => i,
                    _ => self.open_block(
                        Open::Thinking,
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                    ),
                };
                self.delta(index, json!({"type": "thinking_delta", "thinking": t}));
            }
            Event::ThinkingSignature(sig) => {
                let index = match self.open {
                    Some((Open::Thinking, i)) => i,
                    _ => self.open_block(
                        Open::Thinking,
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                    ),
                };
                self.delta(index, json!({"type": "signature_delta", "signature": sig}));
                self.close_open();
            }
            Event::ToolCallStart { index, id, name } => {
                self.saw_tool = true;
                self.pending.insert(
                    *index,
                    PendingCall {
                        id: id.clone(),
                        name: name.clone(),
                        ..PendingCall::default()
                    },
                );
                if !self.tool_open() {
                    self.emit_tool(*index);
                }
            }
            Event::ToolCallDelta { index, partial_json } => match self.open {
                Some((Open::Tool(call), block)) if call == *index => {
                    self.delta(
                        block,
                        json!({"type": "input_json_delta", "partial_json": partial_json}),
                    );
                }
                _ => {
                    if let Some(p) = self.pending.get_mut(index) {
                        p.json.push_str(partial_json);
                    }
                }
            },
            Event::ToolCallEnd(index) => match self.open {
                Some((Open::Tool(call), _)) if call == *index => {
                    self.pending.remove(index);
                    self.close_open();
                    self.flush_next_tool();
                }
                _ => {
                    if let Some(p) = self.pending.get_mut(index) {
                        p.ended = true;
                    }
                }
            },
            Event::Stop(r) => self.stop = Some(*r),
        }
        std::mem::take(&mut self.out)
    }

    /// Closes every block and emits `message_delta` + `message_stop`.
    fn finish(&mut self) -> String {
        self.start();
        self.close_open();
        while let Some((&call, _)) = self.pending.iter().find(|(_, p)| !p.id.is_empty()) {
            if let Some(p) = self.pending.get_mut(&call) {
                p.ended = true;
            }
            self.emit_tool(call);
        }
        self.flush_next_tool(); // late text, if any
        self.close_open();
        let reason = self.stop.unwrap_or(if self.saw_tool {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
        let mut usage = json!({"output_tokens": super::output_tokens(&self.usage, &self.emitted)});
        if let Some(input) = self.usage.input_tokens {
            usage["input_tokens"] = json!(input);
        }
        self.frame(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason_str(reason), "stop_sequence": null}, "usage": usage}),
        );
        self.frame("message_stop", json!({"type": "message_stop"}));
        std::mem::take(&mut self.out)
    }

    /// An `error` event for a failure after the stream began.
    fn error(&mut self, err: &ApiError) -> String {
        self.frame("error", err.claude_body());
        std::mem::take(&mut self.out)
    }

    fn keepalive(&self) -> &'static str {
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    }
}

/// Aggregates events into a non-streaming Claude message.
pub fn aggregate(model: &str, events: &[Event], prompt_estimate: u32) -> Value {
    let mut content: Vec<Value> = Vec::new();
    let mut tools: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    let mut usage = Usage::default();
    let mut stop = None;
    let emitted: String = events.iter().filter_map(super::output_text).collect();
    for e in events {
        match e {
            Event::TextDelta(t) => match content.last_mut() {
                Some(Value::Object(b)) if b["type"] == "text" => {
                    let s = b["text"].as_str().unwrap_or_default().to_owned() + t;
                    b.insert("text".into(), Value::String(s));
                }
                _ => content.push(json!({"type": "text", "text": t})),
            },
            Event::ThinkingDelta(t) => match content.last_mut() {
                Some(Value::Object(b)) if b["type"] == "thinking" && b["signature"] == "" => {
                    let s = b["thinking"].as_str().unwrap_or_default().to_owned() + t;
                    b.insert("thinking".into(), Value::String(s));
                }
                _ => content.push(json!({"type": "thinking", "thinking": t, "signature": ""})),
            },
            Event::ThinkingSignature(s) => match content.last_mut() {
                Some(Value::Object(b)) if b["type"] == "thinking" => {
                    b.insert("signature".into(), Value::String(s.clone()));
                }
                _ => content.push(json!({"type": "thinking", "thinking": "", "signature": s})),
            },
            Event::ToolCallStart { index, id, name } => {
                tools.insert(*index, (id.clone(), name.clone(), String::new()));
            }
            Event::ToolCallDelta { index, partial_json } => {
                if let Some(t) = tools.get_mut(index) {
                    t.2.push_str(partial_json);
                }
            }
            Event::MessageStart { usage: Some(u), .. } | Event::Usage(u) => super::merge_usage(&mut usage, u),
            Event::Stop(r) => stop = Some(*r),
            _ => {}
        }
    }
    let saw_tool = !tools.is_empty();
    for (_, (id, name, json)) in tools {
        let input: Value = serde_json::from_str(&json).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let reason = stop.unwrap_or(if saw_tool {
        StopReason::ToolUse
    } else {
        StopReason::EndTurn
    });
    json!({
        "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason_str(reason),
        "stop_sequence": null,
        "usage": {"input_tokens": usage.input_tokens.unwrap_or(prompt_estimate), "output_tokens": super::output_tokens(&usage, &emitted)},
    })
}
