//! Test-only hostile translator proving the host's sandbox; this file is the WIT glue only.
//!
//! The attacks live in plain-Rust modules (`behaviour`, `burn`), unit-tested natively.

// Only the component (wasm32) exports the `Guest` implementation below; natively it is unused,
// and dead code is checked by the wasm32 clippy run instead.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod behaviour;
mod burn;
mod catalog;
mod host;

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
    use super::Hostile;
    gateway_guest::bindings::export!(Hostile);
}

struct Hostile;

/// `next` takes `&self` in the bindings, but the stream advances, hence the `RefCell`.
struct HostileStream(RefCell<behaviour::Stream>);

fn unsupported() -> wt::ProviderError {
    wt::ProviderError::BadRequest("unsupported".to_owned())
}

impl wit::Guest for Hostile {
    type ChatStream = HostileStream;

    fn describe() -> wit::PluginInfo {
        let models = catalog::MODEL_IDS
            .iter()
            .map(|id| wt::ModelInfo {
                id: (*id).to_owned(),
                upstream_name: (*id).to_owned(),
                display_name: None,
                kind: wt::ModelKind::Chat,
                is_default: *id == catalog::DEFAULT_MODEL,
            })
            .collect();
        wit::PluginInfo {
            name: catalog::NAME.to_owned(),
            version: catalog::VERSION.to_owned(),
            description: catalog::DESCRIPTION.to_owned(),
            models,
            capabilities: wit::Capabilities::CHAT,
            config_schema_json: catalog::CONFIG_SCHEMA_JSON.to_owned(),
        }
    }

    fn chat(_: wt::Account, request: wt::ChatRequest) -> Result<wit::ChatStream, wt::ProviderError> {
        let stream = behaviour::chat(&WitHost, &request.model)?;
        Ok(wit::ChatStream::new(HostileStream(RefCell::new(stream))))
    }

    fn generate_images(_: wt::Account, _: wt::ImageRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn edit_images(_: wt::Account, _: wt::ImageEditRequest) -> Result<wt::ImageResult, wt::ProviderError> {
        Err(unsupported())
    }

    fn check_account(_: wt::Account) -> Result<wt::AccountCheck, wt::ProviderError> {
        Err(unsupported())
    }

    fn usage(_: wt::Account) -> Result<wt::Quota, wt::ProviderError> {
        Err(unsupported())
    }

    fn list_models(_: wt::Account) -> Result<Vec<wt::ModelInfo>, wt::ProviderError> {
        Err(unsupported())
    }

    fn invoke(_: Option<wt::Account>, _: String, _: String) -> Result<String, wt::ProviderError> {
        Err(unsupported())
    }
}

impl wit::GuestChatStream for HostileStream {
    fn next(&self) -> Result<Option<Vec<wt::Event>>, wt::ProviderError> {
        let batch = self.0.borrow_mut().next()?;
        Ok(batch.map(|events| events.into_iter().map(Into::into).collect()))
    }
}
