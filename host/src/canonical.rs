//! Host-native canonical chat types: what the API parsers produce and the encoders consume.
//!
//! They mirror `wit/types.wit` one to one; `wasm::convert` is the only place that maps between
//! the two, so the rest of the host never sees generated bindings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    Url(String),
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolResultPart {
    Text(String),
    Image(ImageSource),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentPart {
    Text(String),
    Image(ImageSource),
    Document {
        media_type: String,
        data: String,
        title: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        input_json: String,
    },
    ToolResult {
        tool_use_id: String,
        content: Vec<ToolResultPart>,
        is_error: bool,
    },
    Thinking {
        text: String,
        signature: Option<String>,
    },
    RedactedThinking(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentPart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema_json: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    Any,
    None,
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientApi {
    ClaudeMessages,
    OpenaiChat,
}

/// One chat request in the form every translator receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub upstream_model: String,
    pub client_api: ClientApi,
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub stop_sequences: Vec<String>,
    pub thinking_budget: Option<u32>,
    pub reasoning_effort: Option<String>,
    pub response_format_json: Option<String>,
    pub metadata_json: Option<String>,
    pub stream: bool,
    /// Unmodelled request fields, as one JSON object.
    pub extra_json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
    Refusal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cache_read_input_tokens: Option<u32>,
    pub cache_creation_input_tokens: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    pub kind: MediaKind,
    pub url: String,
    /// Headers for the download only; never logged or forwarded.
    #[serde(skip_serializing, default)]
    pub headers: Vec<(String, String)>,
    pub media_type: Option<String>,
}

/// One canonical stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    MessageStart {
        id: Option<String>,
        usage: Option<Usage>,
    },
    TextDelta(String),
    ThinkingDelta(String),
    ThinkingSignature(String),
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        partial_json: String,
    },
    ToolCallEnd(u32),
    Media(MediaRef),
    Usage(Usage),
    Stop(StopReason),
}

impl Event {
    /// Bytes this event costs the client, for the plugin's output cap: its payload plus a
    /// fixed framing overhead, so floods of empty events count too.
    pub fn payload_len(&self) -> usize {
        const FRAMING: usize = 128;
        FRAMING
            + match self {
                Event::TextDelta(s) | Event::ThinkingDelta(s) | Event::ThinkingSignature(s) => s.len(),
                Event::ToolCallStart { id, name, .. } => id.len() + name.len(),
                Event::ToolCallDelta { partial_json, .. } => partial_json.len(),
                Event::Media(m) => m.url.len(),
                Event::MessageStart { id, .. } => id.as_ref().map_or(0, String::len),
                Event::ToolCallEnd(_) | Event::Usage(_) | Event::Stop(_) => 0,
            }
    }
}

/// A translator's classification of an upstream failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("upstream rejected the account's credentials: {0}")]
    AuthFailed(String),
    #[error("upstream rate limit: {message}")]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    #[error("upstream quota exhausted: {message}")]
    QuotaExhausted {
        reset_at_ms: Option<u64>,
        message: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("model not found: {0}")]
    ModelNotFound(String),
    #[error("upstream returned {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("transient upstream failure: {0}")]
    Transient(String),
    #[error("translator error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Chat,
    Image,
    ImageEdit,
    Video,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub upstream_name: String,
    pub display_name: Option<String>,
    pub kind: ModelKind,
    pub is_default: bool,
}

/// What a translator says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub models: Vec<ModelInfo>,
    pub capabilities: Vec<String>,
    pub config_schema_json: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: Option<u64>,
    pub used: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCheck {
    pub identity: Option<String>,
    pub plan: Option<String>,
    pub quota: Option<Quota>,
    pub detail_json: String,
}
