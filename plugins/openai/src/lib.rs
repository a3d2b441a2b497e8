//! The OpenAI-compatible channel: Chat Completions upstreams behind an API key; this file is WIT glue.
//!
//! Read it top-down: `chat` builds the request (`request`, `messages`), sends it (`upstream`,
//! `classify`) and decodes the answer (`stream`, `decode`). Everything except this file and
//! `convert` is plain Rust, unit-tested natively against a fake host; the WIT bindings, the host
//! imports, errors, events and the SSE decoder come from the guest SDK (`gateway-guest`).

// Only the component (wasm32) exports the `Guest` implementation below; natively it is unused,
// and dead code is checked by the wasm32 clippy run instead.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod catalog;
mod chat;
mod classify;
mod convert;
mod decode;
#[cfg(test)]
mod fake;
mod host;
mod messages;
mod models;
mod request;
mod stream;
mod types;
mod upstream;

use std::cell::RefCell;

use gateway_guest::bindings::exports::gateway::provider::translator as wit;
use gateway_guest::bindings::gateway::provider::types as wt;
use gateway_guest::host::Config;
use gateway_guest::{WitBody, WitHost};

// `export!` expands to `#[unsafe(export_name)]` functions, so it needs an `unsafe_code`
// allowance. Native builds (unit tests) skip it: those export names are not valid ELF
// version-script symbols, so linking the native cdylib would fail.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::OpenAi;
    gateway_guest::bindings::export!(OpenAi);
}

struct OpenAi;

/// `next` takes `&self` in the bindings, but the stream advances, hence the `RefCell`.
struct OpenAiStream(RefCell<stream::ChatStream<WitBody>>);

fn unsupported() -> wt::ProviderError {
    wt::ProviderError::BadRequest("not supported by the openai channel".to_owned())
}

impl wit::Guest for OpenAi {
    type ChatStream = OpenAiStream;

    fn describe() -> wit::PluginInfo {
        use wit::Capabilities as C;
        wit::PluginInfo {
            name: catalog::NAME.to_owned(),
            version: catalog::VERSION.to_owned(),
            description: catalog::DESCRIPTION.to_owned(),
            models: convert::models(catalog::models(WitHost.config("models").as_deref())),
            capabilities: C::CHAT | C::CHECK_ACCOUNT | C::LIST_MODELS,
            config_schema_json: catalog::config_schema_json(),
        }
    }

    fn chat(account: wt::Account, request: wt::ChatRequest) -> Result<wit::ChatStream, wt::ProviderError> {
        let account = convert::account(account);
        let request = convert::chat_request(request);
        let stream = chat::chat(&WitHost, &account, &request)?;
        Ok(wit::ChatStream::new(OpenAiStream(RefCell::new(stream))))
    }

    fn generate_images(_: wt::Account, _: wt::ImageRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn edit_images(_: wt::Account, _: wt::ImageEditRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn check_account(account: wt::Account) -> Result<wt::AccountCheck, wt::ProviderError> {
        let detail_json = models::check_account(&WitHost, &convert::account(account))?;
        Ok(wt::AccountCheck {
            identity: None,
            plan: None,
            quota: None,
            detail_json,
        })
    }

    fn usage(_: wt::Account) -> Result<wt::Quota, wt::ProviderError> {
        Err(unsupported())
    }

    fn list_models(account: wt::Account) -> Result<Vec<wt::ModelInfo>, wt::ProviderError> {
        let models = models::list_models(&WitHost, &convert::account(account))?;
        Ok(convert::models(models))
    }

    fn invoke(_: Option<wt::Account>, _: String, _: String) -> Result<String, wt::ProviderError> {
        Err(unsupported())
    }
}

impl wit::GuestChatStream for OpenAiStream {
    fn next(&self) -> Result<Option<Vec<wt::Event>>, wt::ProviderError> {
        let batch = self.0.borrow_mut().next()?;
        Ok(batch.map(|events| events.into_iter().map(Into::into).collect()))
    }
}
