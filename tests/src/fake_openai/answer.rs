//! Chat completions: the fake's answers (scripted replies, SSE framing, cancellation).

use super::*;

#[derive(Debug, Clone)]
pub(super) struct ToolCall {
    id: String,
    name: &'static str,
    arguments: String,
}

/// The answer, independent of how it is delivered.
#[derive(Debug, Default)]
pub(super) struct Reply {
    reasoning: Vec<String>,
    content: Vec<String>,
    tool_calls: Vec<ToolCall>,
    /// Argument fragments in emission order: `(tool index, fragment)`.
    fragments: Vec<(usize, String)>,
    finish_reason: &'static str,
    /// Pause before each chunk after the first.
    interval: Duration,
    /// Write each SSE frame in two halves.
    split_frames: bool,
}

impl Reply {
    fn text(text: &str) -> Reply {
        Reply {
            content: chunk_text(text, 3),
            finish_reason: "stop",
            split_frames: true,
            ..Reply::default()
        }
    }

    fn completion_tokens(&self) -> u64 {
        (self.reasoning.len() + self.content.len() + self.fragments.len() + self.tool_calls.len()).max(1)
            as u64
    }

    fn reasoning_tokens(&self) -> u64 {
        self.reasoning.len() as u64
    }
}

/// Splits `text` into at least `min` chunks (fewer only when it has fewer characters), on
/// character boundaries.
pub(super) fn chunk_text(text: &str, min: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(min).clamp(1, 8);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

pub(super) fn tool_reply(request_id: u64) -> Reply {
    let calls: [(&'static str, [&str; 3]); 2] = [
        ("get_weather", [r#"{"ci"#, r#"ty":"Pa"#, r#"ris"}"#]),
        ("get_time", [r#"{"t"#, r#"z":"U"#, r#"TC"}"#]),
    ];
    let tool_calls = calls
        .iter()
        .enumerate()
        .map(|(i, (name, parts))| ToolCall {
            id: format!("call_fake{request_id}x{i}"),
            name,
            arguments: parts.concat(),
        })
        .collect();
    // Interleaved: 0, 1, 0, 1, 0, 1.
    let fragments = (0..3)
        .flat_map(|k| {
            calls
                .iter()
                .enumerate()
                .map(move |(i, (_, parts))| (i, parts[k].to_owned()))
        })
        .collect();
    Reply {
        tool_calls,
        fragments,
        finish_reason: "tool_calls",
        ..Reply::default()
    }
}

pub(super) fn slow_reply() -> Reply {
    let count = (SLOW_TOTAL.as_millis() / SLOW_INTERVAL.as_millis()) as usize;
    Reply {
        content: (1..=count).map(|i| format!("tick {i} ")).collect(),
        finish_reason: "stop",
        interval: SLOW_INTERVAL,
        ..Reply::default()
    }
}

/// Counts an answer as cancelled when dropped before [`CancelGuard::finish`].
pub(super) struct CancelGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl CancelGuard {
    fn new(shared: Arc<Shared>) -> CancelGuard {
        CancelGuard {
            shared,
            finished: false,
        }
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.shared.completed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(super) async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = shared.record(Method::POST, CHAT_PATH, &headers, &body);
    if let Err(resp) = authorize(&headers) {
        return *resp;
    }
    let Some(body) = parsed else {
        return bad_request(
            "We could not parse the JSON body of your request. Send valid JSON.",
            None,
        );
    };
    let request = match parse_chat(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let n = shared.next_id();
    let reply = match &request.turn {
        Turn::ToolResults(results) => Reply::text(&format!("Tool results: {}", results.join(" | "))),
        Turn::User { text, image_urls } => {
            lock(&shared.image_urls).extend(image_urls.iter().cloned());
            if text.contains("ERROR500") {
                return openai_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The server had an error while processing your request. Sorry about that!",
                    None,
                    None,
                );
            }
            if text.contains("RATE429") {
                let mut resp = openai_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    "Rate limit reached for requests. Please try again in 7s.",
                    None,
                    Some("rate_limit_exceeded"),
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
                return resp;
            }
            if text.contains("SLOW") {
                slow_reply()
            } else if text.contains("TOOLS") {
                tool_reply(n)
            } else if text.contains("THINK") {
                Reply {
                    reasoning: vec!["Let me think".into(), " about it.".into()],
                    content: chunk_text("The answer is 42.", 3),
                    finish_reason: "stop",
                    ..Reply::default()
                }
            } else if text.contains("IMAGE") {
                Reply::text(&format!("I see {} image(s)", image_urls.len()))
            } else {
                Reply::text(&format!("You said: {text}"))
            }
        }
    };
    let answer = Answer {
        id: format!("chatcmpl-fake{n}"),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: request.model.clone(),
        prompt_tokens: request.prompt_tokens,
        reply,
    };
    let mut resp = if request.stream {
        answer.stream(request.include_usage, CancelGuard::new(shared.clone()))
    } else {
        answer.json(CancelGuard::new(shared.clone())).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("req_fake{n}")) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A reply with its envelope (id, timestamps, model, usage).
pub(super) struct Answer {
    id: String,
    created: u64,
    model: String,
    prompt_tokens: u64,
    reply: Reply,
}

pub(super) struct Frame {
    bytes: Bytes,
    delay: Duration,
}

impl Answer {
    fn usage(&self) -> Value {
        let completion = self.reply.completion_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reply.reasoning_tokens(), "audio_tokens": 0},
        })
    }

    /// The non-streaming `chat.completion` object (after the reply's pacing, if any).
    async fn json(self, mut guard: CancelGuard) -> Response {
        let pacing = self.reply.interval * self.reply.content.len().saturating_sub(1) as u32;
        if !pacing.is_zero() {
            tokio::time::sleep(pacing).await;
        }
        let r = &self.reply;
        let content = r.content.concat();
        let mut message = json!({
            "role": "assistant",
            "content": if content.is_empty() && !r.tool_calls.is_empty() { Value::Null } else { content.into() },
            "refusal": null,
            "annotations": [],
        });
        if !r.reasoning.is_empty() {
            message["reasoning_content"] = r.reasoning.concat().into();
        }
        if !r.tool_calls.is_empty() {
            message["tool_calls"] = r
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
        }
        let body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": r.finish_reason}],
            "usage": self.usage(),
        });
        guard.finish();
        axum::Json(body).into_response()
    }

    fn chunk(&self, choices: Value, include_usage: bool) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn delta(&self, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
        self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
            include_usage,
        )
    }

    /// Every chunk of the stream, in order (without `[DONE]`).
    fn chunks(&self, include_usage: bool) -> Vec<Value> {
        let r = &self.reply;
        let mut chunks = vec![self.delta(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
            include_usage,
        )];
        for text in &r.reasoning {
            chunks.push(self.delta(json!({"reasoning_content": text}), None, include_usage));
        }
        for text in &r.content {
            chunks.push(self.delta(json!({"content": text}), None, include_usage));
        }
        for (i, c) in r.tool_calls.iter().enumerate() {
            let call = json!({"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}});
            chunks.push(self.delta(json!({"tool_calls": [call]}), None, include_usage));
        }
        for (i, fragment) in &r.fragments {
            let call = json!({"index": i, "function": {"arguments": fragment}});
            chunks.push(self.delta(json!({"tool_calls": [call]}), None, include_usage));
        }
        chunks.push(self.delta(json!({}), Some(r.finish_reason), include_usage));
        if include_usage {
            let mut usage = self.chunk(json!([]), false);
            usage["usage"] = self.usage();
            chunks.push(usage);
        }
        chunks
    }

    fn stream(self, include_usage: bool, guard: CancelGuard) -> Response {
        let mut frames = VecDeque::new();
        let texts = self
            .chunks(include_usage)
            .into_iter()
            .map(|c| format!("data: {c}\n\n"))
            .chain([String::from("data: [DONE]\n\n")]);
        for (k, text) in texts.enumerate() {
            let delay = if k == 0 {
                Duration::ZERO
            } else {
                self.reply.interval
            };
            let bytes = Bytes::from(text);
            if self.reply.split_frames && bytes.len() > 1 {
                let mid = bytes.len() / 2;
                frames.push_back(Frame {
                    bytes: bytes.slice(..mid),
                    delay,
                });
                frames.push_back(Frame {
                    bytes: bytes.slice(mid..),
                    delay: SPLIT_PAUSE,
                });
            } else {
                frames.push_back(Frame { bytes, delay });
            }
        }
        let body = futures::stream::unfold((frames, guard), |(mut frames, mut guard)| async move {
            let frame = frames.pop_front()?;
            if !frame.delay.is_zero() {
                tokio::time::sleep(frame.delay).await;
            }
            if frames.is_empty() {
                guard.finish();
            }
            Some((Ok::<_, Infallible>(frame.bytes), (frames, guard)))
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The `data:` payloads of an SSE body, in order (`[DONE]` included as text).
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}
