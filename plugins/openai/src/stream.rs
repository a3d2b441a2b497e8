//! One chat response, pulled batch by batch: an SSE body decoded as it arrives, or ready events.

use gateway_guest::ProviderError;

use crate::decode::StreamDecoder;
use crate::host::Body;
use crate::types::Event;

pub(crate) enum ChatStream<B> {
    Sse {
        body: B,
        decoder: StreamDecoder,
    },
    /// A whole JSON completion, decoded up front and returned as one batch.
    Ready(Vec<Event>),
    /// `stop` or an error was returned; later pulls report the end.
    Done,
}

impl<B: Body> ChatStream<B> {
    pub(crate) fn sse(body: B) -> Self {
        Self::Sse {
            body,
            decoder: StreamDecoder::default(),
        }
    }

    /// The next batch of events, or `None` once the response is complete.
    pub(crate) fn next(&mut self) -> Result<Option<Vec<Event>>, ProviderError> {
        let last = match self {
            Self::Sse { body, decoder } => {
                let batch = next_sse(body, decoder);
                if batch.is_ok() && !decoder.is_stopped() {
                    return batch;
                }
                batch
            }
            Self::Ready(events) => Ok(Some(std::mem::take(events))),
            Self::Done => return Ok(None),
        };
        // The response ended with this batch (its `stop`, or an error); dropping the body
        // releases the connection now rather than when the host drops the stream.
        *self = Self::Done;
        last
    }
}

/// Reads until at least one event is ready, so the host never gets an empty batch.
fn next_sse(body: &impl Body, decoder: &mut StreamDecoder) -> Result<Option<Vec<Event>>, ProviderError> {
    loop {
        let events = match body.read()? {
            Some(chunk) => decoder.push(&chunk)?,
            None => decoder.finish()?,
        };
        if !events.is_empty() {
            return Ok(Some(events));
        }
        if decoder.is_stopped() {
            return Ok(None);
        }
    }
}
