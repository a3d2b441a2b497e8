//! Incremental Server-Sent Events decoder: feed it body chunks split anywhere, get data payloads.

/// Decodes the `data` payloads of an SSE stream. Comments (`:` lines) and the other fields
/// (`event`, `id`, `retry`) are skipped: the upstreams spoken so far put everything in `data`.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line. Kept as bytes so a UTF-8 sequence split
    /// across chunks is decoded only once it is whole.
    line: Vec<u8>,
    /// Data lines of the event being assembled; `None` until the event has a data field.
    data: Option<String>,
    /// The previous chunk ended in `\r`, so a leading `\n` belongs to that line ending.
    skip_lf: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes one chunk and returns the data of every event it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.skip_lf) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.skip_lf = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(data) = self.end_line(&line) {
                        events.push(data);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// Handles one complete line; returns an event's data when the line was blank.
    fn end_line(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            // Per the SSE spec an event whose data is empty is not dispatched.
            return self.data.take().filter(|data| !data.is_empty());
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            // Per the SSE spec a single space after the colon is not part of the value.
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = ": keep-alive\r\n\
        data: hello\n\n\
        event: delta\r\ndata:  wörld\r\n\r\n\
        data: two\ndata: lines\n\n\
        id: 7\n\n\
        data\n\n\
        data: ✓ done\r\r\
        data: [DONE]\n\n";

    fn expected() -> Vec<String> {
        ["hello", " wörld", "two\nlines", "✓ done", "[DONE]"]
            .map(String::from)
            .to_vec()
    }

    fn decode(chunks: &[&[u8]]) -> Vec<String> {
        let mut decoder = SseDecoder::new();
        chunks.iter().flat_map(|c| decoder.push(c)).collect()
    }

    #[test]
    fn decodes_whole_stream() {
        assert_eq!(decode(&[SAMPLE.as_bytes()]), expected());
    }

    #[test]
    fn decodes_every_two_way_split() {
        let bytes = SAMPLE.as_bytes();
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(decode(&[a, b]), expected(), "split at {at}");
        }
    }

    #[test]
    fn decodes_every_three_way_split() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let chunks = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                assert_eq!(decode(&chunks), expected(), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn decodes_byte_by_byte() {
        let chunks: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(decode(&chunks), expected());
    }

    #[test]
    fn unterminated_event_is_not_emitted() {
        assert!(decode(&[b"data: partial\n"]).is_empty());
    }
}
