//! The chat stream state machine: scripted batches, an SSE body, or a WebSocket.

use std::collections::VecDeque;

use gateway_guest::sse::SseDecoder;

use crate::host::{Body, Frame, Host, Socket};
use crate::types::{Event, ProviderError, StopReason};

/// What the upstream sends to end a stream early, on SSE and WebSocket alike.
const DONE: &str = "[DONE]";

enum Source<H: Host> {
    Scripted {
        batches: VecDeque<Vec<Event>>,
        /// Returned once the batches are used up, to simulate a mid-stream failure.
        then: Option<ProviderError>,
    },
    Sse {
        body: H::Body,
        decoder: SseDecoder,
    },
    Ws {
        socket: H::Socket,
    },
}

/// One chat response, pulled batch by batch.
pub(crate) struct Stream<H: Host> {
    source: Source<H>,
    /// Set once a `stop` or an error was returned; later pulls just report the end.
    ended: bool,
}

impl<H: Host> Stream<H> {
    fn new(source: Source<H>) -> Self {
        Self { source, ended: false }
    }

    pub(crate) fn scripted(batches: Vec<Vec<Event>>) -> Self {
        Self::new(Source::Scripted {
            batches: batches.into(),
            then: None,
        })
    }

    pub(crate) fn failing_after(batches: Vec<Vec<Event>>, error: ProviderError) -> Self {
        Self::new(Source::Scripted {
            batches: batches.into(),
            then: Some(error),
        })
    }

    pub(crate) fn sse(body: H::Body) -> Self {
        Self::new(Source::Sse {
            body,
            decoder: SseDecoder::new(),
        })
    }

    pub(crate) fn ws(socket: H::Socket) -> Self {
        Self::new(Source::Ws { socket })
    }

    /// The next batch of events, or `None` once the response is complete.
    pub(crate) fn next(&mut self) -> Result<Option<Vec<Event>>, ProviderError> {
        if self.ended {
            return Ok(None);
        }
        let batch = match &mut self.source {
            Source::Scripted { batches, then } => match batches.pop_front() {
                Some(batch) => Ok(Some(batch)),
                None => then.take().map_or(Ok(None), Err),
            },
            Source::Sse { body, decoder } => next_sse(body, decoder).map(Some),
            Source::Ws { socket } => next_ws(socket).map(Some),
        };
        let finished = match &batch {
            Ok(Some(events)) => events.iter().any(|e| matches!(e, Event::Stop(_))),
            Ok(None) | Err(_) => true,
        };
        self.ended = finished;
        batch
    }
}

/// Reads until at least one event is decoded, so the host never gets an empty batch.
fn next_sse(body: &impl Body, decoder: &mut SseDecoder) -> Result<Vec<Event>, ProviderError> {
    loop {
        let Some(chunk) = body.read()? else {
            return Ok(vec![Event::Stop(StopReason::EndTurn)]);
        };
        let mut events = Vec::new();
        for data in decoder.push(&chunk) {
            if data == DONE {
                // Anything after `[DONE]` is ignored, like the real upstreams do.
                events.push(Event::Stop(StopReason::EndTurn));
                break;
            }
            events.push(Event::TextDelta(data));
        }
        if !events.is_empty() {
            return Ok(events);
        }
    }
}

/// One received text frame per batch, so streaming stays observable.
fn next_ws(socket: &impl Socket) -> Result<Vec<Event>, ProviderError> {
    loop {
        match socket.receive()? {
            Some(Frame::Text(text)) if text == DONE => {
                socket.close();
                return Ok(vec![Event::Stop(StopReason::EndTurn)]);
            }
            Some(Frame::Text(text)) => return Ok(vec![Event::TextDelta(text)]),
            // The test upstream speaks text only; binary frames carry nothing for us.
            Some(Frame::Binary(_)) => {}
            None => return Ok(vec![Event::Stop(StopReason::EndTurn)]),
        }
    }
}
