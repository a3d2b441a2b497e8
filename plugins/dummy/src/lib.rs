//! Test translator whose behaviour is keyed by model id; this file is the WIT glue only.
//!
//! Everything here converts between wit-bindgen types and the plain-Rust core
//! (`behaviour`, `stream`, ...), which is unit-tested natively against a fake host.

// Only the component (wasm32) exports the `Guest` implementation below; natively it is unused,
// and dead code is checked by the wasm32 clippy run instead.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod behaviour;
mod catalog;
mod convert;
#[cfg(test)]
mod fake;
mod host;
pub mod native;
mod scripts;
mod stream;
mod types;

use std::cell::RefCell;

use gateway_guest::WitHost;
use gateway_guest::bindings::exports::gateway::provider::translator as wit;
use gateway_guest::bindings::gateway::provider::types as wt;

// `export!` expands to `#[unsafe(export_name)]` functions, so it needs an `unsafe_code`
// allowance. Native builds (unit tests) skip it: those export names are not valid ELF
// version-script symbols, so linking the native cdylib would fail.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::Dummy;
    gateway_guest::bindings::export!(Dummy);
}

struct Dummy;

/// `next` takes `&self` in the bindings, but the stream advances, hence the `RefCell`.
struct DummyStream(RefCell<stream::Stream<WitHost>>);

fn unsupported() -> wt::ProviderError {
    wt::ProviderError::BadRequest("unsupported".to_owned())
}

impl wit::Guest for Dummy {
    type ChatStream = DummyStream;

    fn describe() -> wit::PluginInfo {
        use wit::Capabilities as C;
        wit::PluginInfo {
            name: catalog::NAME.to_owned(),
            version: catalog::VERSION.to_owned(),
            description: catalog::DESCRIPTION.to_owned(),
            models: convert::models(catalog::models()),
            capabilities: C::CHAT | C::CHECK_ACCOUNT | C::USAGE | C::LIST_MODELS,
            config_schema_json: catalog::config_schema_json(),
        }
    }

    fn chat(account: wt::Account, request: wt::ChatRequest) -> Result<wit::ChatStream, wt::ProviderError> {
        let account = convert::account(account);
        let request = convert::chat_request(request);
        let stream = behaviour::chat(&WitHost, &account, &request)?;
        Ok(wit::ChatStream::new(DummyStream(RefCell::new(stream))))
    }

    fn generate_images(_: wt::Account, _: wt::ImageRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn edit_images(_: wt::Account, _: wt::ImageEditRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn check_account(_: wt::Account) -> Result<wt::AccountCheck, wt::ProviderError> {
        Ok(wt::AccountCheck {
            identity: Some(catalog::IDENTITY.to_owned()),
            plan: None,
            quota: None,
            detail_json: catalog::CHECK_DETAIL_JSON.to_owned(),
        })
    }

    fn usage(_: wt::Account) -> Result<wt::Quota, wt::ProviderError> {
        Ok(convert::quota(catalog::QUOTA))
    }

    fn list_models(_: wt::Account) -> Result<Vec<wt::ModelInfo>, wt::ProviderError> {
        Ok(convert::models(catalog::models()))
    }

    fn invoke(_: Option<wt::Account>, _: String, _: String) -> Result<String, wt::ProviderError> {
        Err(unsupported())
    }
}

impl wit::GuestChatStream for DummyStream {
    fn next(&self) -> Result<Option<Vec<wt::Event>>, wt::ProviderError> {
        let batch = self.0.borrow_mut().next()?;
        Ok(batch.map(|events| events.into_iter().map(Into::into).collect()))
    }
}
