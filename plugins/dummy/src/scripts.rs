//! Canned event sequences for the behaviours that need no I/O.

use crate::types::{Event, StopReason, Usage};

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `message-start` reporting `input` tokens.
fn start(input: u32) -> Event {
    Event::MessageStart {
        id: None,
        usage: Some(Usage {
            input_tokens: Some(input),
            ..Usage::default()
        }),
    }
}

/// The closing `usage` event, reporting `output` tokens.
fn output(output: u32) -> Event {
    Event::Usage(Usage {
        output_tokens: Some(output),
        ..Usage::default()
    })
}

/// A one-batch reply: the text as a single delta, then `stop`.
pub(crate) fn reply(text: impl Into<String>) -> Vec<Vec<Event>> {
    vec![vec![
        Event::TextDelta(text.into()),
        Event::Stop(StopReason::EndTurn),
    ]]
}

/// Echoes the text word by word, one delta per batch, so tests can observe streaming.
pub(crate) fn echo(text: &str) -> Vec<Vec<Event>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = count(words.len());
    let mut batches = vec![vec![start(n)]];
    batches.extend(words.iter().enumerate().map(|(i, word)| {
        let delta = if i == 0 {
            (*word).to_owned()
        } else {
            format!(" {word}")
        };
        vec![Event::TextDelta(delta)]
    }));
    batches.push(vec![output(n), Event::Stop(StopReason::EndTurn)]);
    batches
}

/// Two parallel tool calls whose argument pieces arrive interleaved, as real upstreams do.
pub(crate) fn tools(text: &str) -> Vec<Vec<Event>> {
    let call = |index, id: &str, name: &str| Event::ToolCallStart {
        index,
        id: id.to_owned(),
        name: name.to_owned(),
    };
    let delta = |index, piece: &str| {
        vec![Event::ToolCallDelta {
            index,
            partial_json: piece.to_owned(),
        }]
    };
    vec![
        vec![start(count(text.split_whitespace().count()))],
        vec![Event::TextDelta("Calling tools.".to_owned())],
        vec![call(0, "call_a", "get_weather"), call(1, "call_b", "get_time")],
        delta(0, r#"{"city":"#),
        delta(1, r#"{"tz""#),
        delta(0, r#""Paris"#),
        delta(1, r#":"UTC"}"#),
        delta(0, r#""}"#),
        vec![Event::ToolCallEnd(0), Event::ToolCallEnd(1)],
        vec![output(12), Event::Stop(StopReason::ToolUse)],
    ]
}

pub(crate) fn thinking() -> Vec<Vec<Event>> {
    [
        Event::ThinkingDelta("Let me think.".to_owned()),
        Event::ThinkingDelta(" Done.".to_owned()),
        Event::ThinkingSignature("sig-123".to_owned()),
        Event::TextDelta("Answer.".to_owned()),
        Event::Stop(StopReason::EndTurn),
    ]
    .map(|event| vec![event])
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(batches: &[Vec<Event>]) -> String {
        batches
            .iter()
            .flatten()
            .filter_map(|e| match e {
                Event::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn echo_streams_one_word_per_batch() {
        let batches = echo("  hello   big\tworld ");
        assert_eq!(batches.len(), 5);
        assert_eq!(batches[2], vec![Event::TextDelta(" big".into())]);
        assert_eq!(text_of(&batches), "hello big world");
        assert_eq!(batches[0], vec![start(3)]);
        assert_eq!(
            batches.last().and_then(|b| b.last()),
            Some(&Event::Stop(StopReason::EndTurn))
        );
    }

    #[test]
    fn echo_of_nothing_still_stops() {
        let batches = echo("");
        assert_eq!(batches.len(), 2);
        assert_eq!(text_of(&batches), "");
    }

    #[test]
    fn tool_arguments_reassemble() {
        let mut args = [String::new(), String::new()];
        for event in tools("x").iter().flatten() {
            if let Event::ToolCallDelta { index, partial_json } = event {
                args[*index as usize].push_str(partial_json);
            }
        }
        assert_eq!(args, [r#"{"city":"Paris"}"#, r#"{"tz":"UTC"}"#]);
    }
}
