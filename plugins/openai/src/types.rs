//! Plain-Rust mirrors of the WIT types this translator uses, so its logic is testable natively
//! (the shared ones, events and errors, come from the guest SDK).

pub(crate) use gateway_guest::{Event, StopReason, Usage};

/// The parts of the canonical chat request that Chat Completions can express.
///
/// Left out on purpose: `top-k` and `thinking-budget` (Chat Completions has neither),
/// `metadata-json` (OpenAI would store it only with `store: true`) and `stream` (we always
/// stream upstream; the host aggregates for non-streaming clients).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    pub(crate) upstream_model: String,
    pub(crate) client_api: ClientApi,
    pub(crate) system: Vec<String>,
    pub(crate) messages: Vec<Message>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) parallel_tool_calls: Option<bool>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) stop_sequences: Vec<String>,
    pub(crate) reasoning_effort: Option<String>,
    pub(crate) response_format_json: Option<String>,
    pub(crate) extra_json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientApi {
    ClaudeMessages,
    OpenAiChat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) role: Role,
    pub(crate) content: Vec<ContentPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageSource {
    Url(String),
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentPart {
    Text(String),
    Image(ImageSource),
    /// Only the title survives: Chat Completions has no document parts.
    Document {
        title: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        input_json: String,
    },
    /// `is-error` is not kept: Chat Completions tool messages have no error flag.
    ToolResult {
        tool_use_id: String,
        content: Vec<ToolResultPart>,
    },
    /// Thinking and redacted thinking alike: OpenAI does not accept them back, so their
    /// content is not kept.
    Thinking,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolResultPart {
    Text(String),
    Image,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) input_schema_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    Any,
    None,
    Named(String),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    pub(crate) credentials_json: String,
}

/// A chat model of this channel (the kind is always `chat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelInfo {
    pub(crate) id: String,
    pub(crate) upstream_name: String,
    pub(crate) is_default: bool,
}
