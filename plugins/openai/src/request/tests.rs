//! Request mapping: messages, tools, parameters and extra-json pass-through.

use serde_json::{Value, json};

use super::*;
use crate::fake::chat_request as request;
use crate::types::{ContentPart as P, ImageSource, Message, Role, ToolResultPart};

fn user(content: Vec<P>) -> Message {
    Message {
        role: Role::User,
        content,
    }
}

fn assistant(content: Vec<P>) -> Message {
    Message {
        role: Role::Assistant,
        content,
    }
}

fn text(t: &str) -> P {
    P::Text(t.into())
}

fn body(req: &ChatRequest) -> Value {
    chat_body(req, MaxTokensField::default()).expect("request maps")
}

fn weather_tool() -> Tool {
    Tool {
        name: "weather".into(),
        description: Some("Current weather".into()),
        input_schema_json: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into(),
    }
}

#[test]
fn minimal_request_always_streams_with_usage() {
    let body = body(&request(vec![user(vec![text("hi")])]));
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "messages": [{ "role": "user", "content": "hi" }],
            "stream": true,
            "stream_options": { "include_usage": true },
        })
    );
}

#[test]
fn system_blocks_become_one_leading_system_message() {
    let mut req = request(vec![user(vec![text("a"), text("b")])]);
    req.system = vec!["You are terse.".into(), "Answer in French.".into()];
    assert_eq!(
        body(&req)["messages"],
        json!([
            { "role": "system", "content": "You are terse.\n\nAnswer in French." },
            { "role": "user", "content": "a\n\nb" },
        ])
    );
}

#[test]
fn images_by_url_and_as_data_urls_and_documents_by_title() {
    let req = request(vec![user(vec![
        text("compare"),
        P::Image(ImageSource::Url("https://img.test/a.png".into())),
        P::Image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0=".into(),
        }),
        P::Document {
            title: Some("Q3 report".into()),
        },
        P::Thinking,
    ])]);
    assert_eq!(
        body(&req)["messages"][0]["content"],
        json!([
            { "type": "text", "text": "compare" },
            { "type": "image_url", "image_url": { "url": "https://img.test/a.png" } },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0=" } },
            { "type": "text", "text": "[document: Q3 report]" },
        ])
    );
}

#[test]
fn tool_round_trip_keeps_tool_messages_right_after_the_calls() {
    let req = request(vec![
        user(vec![text("weather in Paris and Rome?")]),
        assistant(vec![
            P::Thinking,
            text("Checking."),
            P::ToolUse {
                id: "call_a".into(),
                name: "weather".into(),
                input_json: r#"{"city":"Paris"}"#.into(),
            },
            P::ToolUse {
                id: "call_b".into(),
                name: "weather".into(),
                input_json: r#"{"city":"Rome"}"#.into(),
            },
        ]),
        user(vec![
            P::ToolResult {
                tool_use_id: "call_a".into(),
                content: vec![ToolResultPart::Text("18°C".into()), ToolResultPart::Image],
            },
            text("and be brief"),
            P::ToolResult {
                tool_use_id: "call_b".into(),
                content: vec![
                    ToolResultPart::Text("sunny".into()),
                    ToolResultPart::Text("22°C".into()),
                ],
            },
        ]),
        assistant(vec![P::Thinking]),
    ]);
    let call = |id: &str, city: &str| {
        json!({ "id": id, "type": "function",
                "function": { "name": "weather", "arguments": format!("{{\"city\":\"{city}\"}}") } })
    };
    assert_eq!(
        body(&req)["messages"],
        json!([
            { "role": "user", "content": "weather in Paris and Rome?" },
            { "role": "assistant", "content": "Checking.", "tool_calls": [call("call_a", "Paris"), call("call_b", "Rome")] },
            { "role": "tool", "tool_call_id": "call_a", "content": "18°C\n\n[image omitted]" },
            { "role": "tool", "tool_call_id": "call_b", "content": "sunny\n\n22°C" },
            { "role": "user", "content": "and be brief" },
        ])
    );
}

#[test]
fn assistant_without_text_has_null_content() {
    let req = request(vec![assistant(vec![P::ToolUse {
        id: "c".into(),
        name: "n".into(),
        input_json: "{}".into(),
    }])]);
    assert_eq!(body(&req)["messages"][0]["content"], Value::Null);
}

#[test]
fn tools_and_tool_choice_variants() {
    let mut req = request(vec![user(vec![text("hi")])]);
    req.tools = vec![weather_tool()];
    req.parallel_tool_calls = Some(false);
    let cases = [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Any, json!("required")),
        (ToolChoice::None, json!("none")),
        (
            ToolChoice::Named("weather".into()),
            json!({ "type": "function", "function": { "name": "weather" } }),
        ),
    ];
    for (choice, expected) in cases {
        req.tool_choice = Some(choice);
        let body = body(&req);
        assert_eq!(body["tool_choice"], expected);
        assert_eq!(body["parallel_tool_calls"], json!(false));
        assert_eq!(
            body["tools"],
            json!([{ "type": "function", "function": {
                "name": "weather",
                "description": "Current weather",
                "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
            } }])
        );
    }
}

#[test]
fn tool_settings_without_tools_are_omitted() {
    let mut req = request(vec![user(vec![text("hi")])]);
    req.tool_choice = Some(ToolChoice::Auto);
    req.parallel_tool_calls = Some(true);
    let body = body(&req);
    assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none());
}

#[test]
fn invalid_tool_schema_is_a_bad_request() {
    let mut req = request(vec![]);
    req.tools = vec![Tool {
        input_schema_json: "{".into(),
        ..weather_tool()
    }];
    let err = chat_body(&req, MaxTokensField::default()).expect_err("schema is invalid");
    assert!(matches!(err, ProviderError::BadRequest(m) if m.starts_with("input schema of tool weather")));
}

#[test]
fn sampling_parameters() {
    let mut req = request(vec![]);
    req.max_tokens = Some(512);
    req.temperature = Some(0.7);
    req.top_p = Some(0.9);
    req.stop_sequences = vec!["END".into()];
    req.reasoning_effort = Some("low".into());
    req.response_format_json = Some(r#"{"type":"json_object"}"#.into());
    let body = body(&req);
    assert_eq!(body["max_completion_tokens"], json!(512));
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["temperature"], json!(0.7));
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["reasoning_effort"], json!("low"));
    assert_eq!(body["response_format"], json!({ "type": "json_object" }));
    let legacy = chat_body(&req, MaxTokensField::MaxTokens).expect("request maps");
    assert_eq!(legacy["max_tokens"], json!(512));
    assert!(legacy.get("max_completion_tokens").is_none());
}

#[test]
fn max_tokens_field_config() {
    assert_eq!(
        MaxTokensField::from_config(None),
        Ok(MaxTokensField::MaxCompletionTokens)
    );
    assert_eq!(
        MaxTokensField::from_config(Some(" max_tokens ")),
        Ok(MaxTokensField::MaxTokens)
    );
    assert!(matches!(
        MaxTokensField::from_config(Some("both")),
        Err(ProviderError::Internal(_))
    ));
}

#[test]
fn extra_json_passes_through_for_openai_clients_only() {
    let mut req = request(vec![user(vec![text("hi")])]);
    req.extra_json =
        json!({ "seed": 7, "user": "u-1", "n": 3, "model": "evil", "stream": false }).to_string();
    let claude = body(&req);
    assert!(claude.get("seed").is_none() && claude.get("user").is_none());
    req.client_api = ClientApi::OpenAiChat;
    let openai = body(&req);
    assert_eq!(openai["seed"], json!(7));
    assert_eq!(openai["user"], json!("u-1"));
    assert!(openai.get("n").is_none());
    assert_eq!(openai["model"], json!("gpt-4o"));
    assert_eq!(openai["stream"], json!(true));
}
