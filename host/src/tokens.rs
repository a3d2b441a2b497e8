//! Input-token counting with a real BPE tokenizer (o200k), shaped like Anthropic's count_tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tiktoken_rs::CoreBPE;

use crate::canonical::{ChatRequest, ContentPart, ImageSource, ToolResultPart};

/// Anthropic's per-request framing and per-message role markers, measured against its
/// endpoint for short prompts.
const REQUEST_OVERHEAD: u32 = 7;
const MESSAGE_OVERHEAD: u32 = 3;
/// The hidden tool-use system prompt Anthropic adds once tools are declared.
const TOOLS_PREAMBLE: u32 = 346;
const TOOL_OVERHEAD: u32 = 8;
/// For images whose size cannot be read (URLs, unknown formats): a 1092×1092 image.
const IMAGE_FALLBACK: u32 = 1_590;
const CACHE_CAPACITY: usize = 10_000;
/// What one cache entry holds: a 32-byte content hash and a 4-byte count.
const ENTRY_BYTES: usize = 32 + 4;

/// Counts and caches; cheap to clone. The cache (and its statistics) belongs to this process:
/// each gateway instance has its own, and clearing it clears only this instance's.
#[derive(Clone, Default)]
pub struct TokenCounter {
    cache: Arc<Mutex<HashMap<[u8; 32], u32>>>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

/// A snapshot of this instance's count cache, for the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub entries: usize,
    /// Bytes held by the entries themselves (hash and count), not the map's own overhead.
    pub size_bytes: usize,
    /// Lookups answered from the cache since start.
    pub hits: u64,
    /// Lookups that had to count since start.
    pub misses: u64,
    /// Reaching it empties the cache (counts are cheap to recompute).
    pub max_entries: usize,
}

fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    // The ranks ship inside the crate; building the tables takes a moment, once per process.
    BPE.get_or_init(|| tiktoken_rs::o200k_base().expect("bundled o200k ranks are valid"))
}

impl TokenCounter {
    /// Builds the tokenizer tables now (off the request path).
    pub fn warm_up() {
        bpe();
    }

    /// Input tokens of a request: system, messages, tool definitions and images.
    pub fn count(&self, req: &ChatRequest) -> u32 {
        let key: [u8; 32] = Sha256::digest(serde_json::to_vec(req).unwrap_or_default()).into();
        if let Some(n) = self.lock().get(&key).copied() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return n;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let n = count_uncached(req);
        let mut cache = self.lock();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear(); // crude but bounded; counts are cheap to recompute
        }
        cache.insert(key, n);
        n
    }

    pub fn cache_stats(&self) -> CacheStats {
        let entries = self.lock().len();
        CacheStats {
            entries,
            size_bytes: entries * ENTRY_BYTES,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            max_entries: CACHE_CAPACITY,
        }
    }

    /// Empties the cache (the hit and miss counters keep counting); returns how many entries
    /// it held.
    pub fn clear_cache(&self) -> usize {
        let mut cache = self.lock();
        let n = cache.len();
        cache.clear();
        n
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], u32>> {
        // A poisoned lock only means a panic elsewhere; the cached counts are still valid.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn text(s: &str) -> u32 {
    bpe().encode_ordinary(s).len() as u32
}

/// Tokens of generated text, for output usage when the upstream reports none.
pub fn count_text(s: &str) -> u32 {
    if s.is_empty() { 0 } else { text(s) }
}

fn count_uncached(req: &ChatRequest) -> u32 {
    let mut n = REQUEST_OVERHEAD;
    n += req.system.iter().map(|s| text(s)).sum::<u32>();
    for m in &req.messages {
        n += MESSAGE_OVERHEAD;
        for part in &m.content {
            n += match part {
                ContentPart::Text(t) => text(t),
                ContentPart::Image(src) => image(src),
                ContentPart::Document { data, .. } => (data.len() as u32 * 3 / 4) / 4,
                ContentPart::ToolUse { name, input_json, .. } => text(name) + text(input_json) + 4,
                ContentPart::ToolResult { content, .. } => {
                    4 + content
                        .iter()
                        .map(|p| match p {
                            ToolResultPart::Text(t) => text(t),
                            ToolResultPart::Image(src) => image(src),
                        })
                        .sum::<u32>()
                }
                ContentPart::Thinking { text: t, .. } => text(t),
                ContentPart::RedactedThinking(d) => d.len() as u32 / 4,
            };
        }
    }
    if !req.tools.is_empty() {
        n += TOOLS_PREAMBLE;
        for t in &req.tools {
            n += TOOL_OVERHEAD
                + text(&t.name)
                + text(t.description.as_deref().unwrap_or(""))
                + text(&t.input_schema_json);
        }
    }
    n
}

/// Anthropic: images are scaled to fit 1568 px on the long edge and ~1.15 MP, then cost
/// `width * height / 750` tokens.
fn image(src: &ImageSource) -> u32 {
    let ImageSource::Base64 { data, .. } = src else {
        return IMAGE_FALLBACK;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
        return IMAGE_FALLBACK;
    };
    let Some((w, h)) = image_size(&bytes) else {
        return IMAGE_FALLBACK;
    };
    let (mut w, mut h) = (f64::from(w), f64::from(h));
    let long = w.max(h);
    if long > 1568.0 {
        let s = 1568.0 / long;
        (w, h) = (w * s, h * s);
    }
    let mp = w * h;
    if mp > 1_150_000.0 {
        let s = (1_150_000.0 / mp).sqrt();
        (w, h) = (w * s, h * s);
    }
    ((w * h) / 750.0).ceil().max(1.0) as u32
}

/// Width and height from a PNG, GIF or JPEG header.
fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?)));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?)));
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                i += 1;
                continue;
            }
            let marker = b[i + 1];
            // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC) carry the frame size.
            if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + be16(i + 2)? as usize;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{ClientApi, Message, Role, Tool};

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            upstream_model: "m".into(),
            client_api: ClientApi::ClaudeMessages,
            system: vec![],
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentPart::Text(text.into())],
            }],
            tools: vec![],
            tool_choice: None,
            parallel_tool_calls: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            top_k: None,
            stop_sequences: vec![],
            thinking_budget: None,
            reasoning_effort: None,
            response_format_json: None,
            metadata_json: None,
            stream: false,
            extra_json: "{}".into(),
        }
    }

    #[test]
    fn counts_grow_with_text_and_tools() {
        let c = TokenCounter::default();
        let short = c.count(&req("Hello, world"));
        assert!((8..=16).contains(&short), "{short}");
        let long = c.count(&req(&"The quick brown fox jumps over the lazy dog. ".repeat(100)));
        assert!((900..=1100).contains(&long), "{long}");
        let mut with_tool = req("Hello, world");
        with_tool.tools.push(Tool {
            name: "get_weather".into(),
            description: Some("Get the weather".into()),
            input_schema_json: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into(),
        });
        assert!(c.count(&with_tool) > short + TOOLS_PREAMBLE);
    }

    #[test]
    fn cache_counts_hits_and_misses_and_clears() {
        let c = TokenCounter::default();
        let first = c.count(&req("cached"));
        assert_eq!(c.count(&req("cached")), first);
        c.count(&req("another"));
        let stats = c.cache_stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (2, 1, 2));
        assert_eq!(stats.size_bytes, 2 * ENTRY_BYTES);
        assert_eq!(stats.max_entries, CACHE_CAPACITY);
        // Clones share one cache.
        assert_eq!(c.clone().clear_cache(), 2);
        let stats = c.cache_stats();
        assert_eq!((stats.entries, stats.size_bytes, stats.hits), (0, 0, 1));
        c.count(&req("cached"));
        assert_eq!(c.cache_stats().misses, 3, "a cleared entry is counted again");
    }

    #[test]
    fn reads_png_and_gif_sizes() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1000u32.to_be_bytes());
        png.extend_from_slice(&500u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((1000, 500)));
        assert_eq!(image_size(b"GIF89a\x10\x00\x20\x00"), Some((16, 32)));
        let src = ImageSource::Base64 {
            media_type: "image/png".into(),
            data: base64::engine::general_purpose::STANDARD.encode(&png),
        };
        assert_eq!(image(&src), 667); // 1000 * 500 / 750
    }
}
