//! The OpenAI-compatible channel: Chat Completions upstreams behind an API key; this file is WIT glue.
//!
//! Read it top-down: `chat` builds the request (`request`, `messages`), sends it (`upstream`,
//! `classify`) and decodes the answer (`stream`, `decode`, `sse`). Everything except this
//! file, `convert` and `imports` is plain Rust, unit-tested natively against a fake host.

mod catalog;
mod chat;
mod classify;
mod convert;
mod decode;
mod error;
#[cfg(test)]
mod fake;
mod host;
mod imports;
mod messages;
mod models;
mod request;
mod sse;
mod stream;
mod types;
mod upstream;

use std::cell::RefCell;

use bindings::exports::gateway::provider::translator as wit;
use bindings::gateway::provider::types as wt;
use host::Host;

// The generated code is unsafe FFI glue and not written to our lint set, so the lints are
// relaxed for this module only.
#[allow(unsafe_code, unreachable_pub, clippy::unwrap_used)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "plugin" });
}

// `export!` expands to `#[unsafe(export_name)]` functions, so it needs the same allowance.
// Native builds (unit tests) skip it: those export names are not valid ELF version-script
// symbols, so linking the native cdylib would fail.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::OpenAi;
    crate::bindings::export!(OpenAi with_types_in crate::bindings);
}

struct OpenAi;

/// `next` takes `&self` in the bindings, but the stream advances, hence the `RefCell`.
struct OpenAiStream(RefCell<stream::ChatStream<imports::WitBody>>);

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
            models: convert::models(catalog::models(imports::WitHost.config("models").as_deref())),
            capabilities: C::CHAT | C::CHECK_ACCOUNT | C::LIST_MODELS,
            config_schema_json: catalog::config_schema_json(),
        }
    }

    fn chat(account: wt::Account, request: wt::ChatRequest) -> Result<wit::ChatStream, wt::ProviderError> {
        let account = convert::account(account);
        let request = convert::chat_request(request);
        let stream = chat::chat(&imports::WitHost, &account, &request).map_err(convert::provider_error)?;
        Ok(wit::ChatStream::new(OpenAiStream(RefCell::new(stream))))
    }

    fn generate_images(_: wt::Account, _: wt::ImageRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn edit_images(_: wt::Account, _: wt::ImageEditRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn check_account(account: wt::Account) -> Result<wt::AccountCheck, wt::ProviderError> {
        let detail_json = models::check_account(&imports::WitHost, &convert::account(account))
            .map_err(convert::provider_error)?;
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
        let models = models::list_models(&imports::WitHost, &convert::account(account))
            .map_err(convert::provider_error)?;
        Ok(convert::models(models))
    }

    fn invoke(_: Option<wt::Account>, _: String, _: String) -> Result<String, wt::ProviderError> {
        Err(unsupported())
    }
}

impl wit::GuestChatStream for OpenAiStream {
    fn next(&self) -> Result<Option<Vec<wt::Event>>, wt::ProviderError> {
        let batch = self.0.borrow_mut().next().map_err(convert::provider_error)?;
        Ok(batch.map(|events| events.into_iter().map(convert::event).collect()))
    }
}
