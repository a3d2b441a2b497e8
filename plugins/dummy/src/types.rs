//! Plain-Rust mirrors of the WIT types this translator uses, so its logic is testable natively
//! (the shared ones, events and errors, come from the guest SDK).

pub(crate) use gateway_guest::{Event, KvError, NetError, ProviderError, StopReason, Usage};

/// The parts of a chat request the dummy looks at.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatRequest {
    /// The client-facing model id, which selects the behaviour.
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) from_user: bool,
    /// The message's text parts in order; other parts are irrelevant to the dummy.
    pub(crate) texts: Vec<String>,
}

impl ChatRequest {
    /// The concatenated text parts of the last user message ("" if there is none).
    pub(crate) fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.from_user)
            .map(|m| m.texts.concat())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    pub(crate) credentials_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelInfo {
    pub(crate) id: String,
    pub(crate) is_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(from_user: bool, texts: &[&str]) -> Message {
        Message {
            from_user,
            texts: texts.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn last_user_text_concatenates_the_last_user_message() {
        let req = ChatRequest {
            model: "echo".into(),
            messages: vec![
                msg(true, &["first"]),
                msg(true, &["hello ", "world"]),
                msg(false, &["ignored"]),
            ],
        };
        assert_eq!(req.last_user_text(), "hello world");
        assert_eq!(ChatRequest::default().last_user_text(), "");
    }
}
