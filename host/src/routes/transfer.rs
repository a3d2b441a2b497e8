//! Export and import of the gateway's state: accounts (credentials included), models, API keys.
//!
//! The export is the only response that carries credentials. Import validates the whole
//! document before it writes anything, then upserts every record by id in one store transaction,
//! so importing the same document twice changes nothing the second time but versions.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::config::valid_channel_name;
use crate::error::ApiError;
use crate::keys::ApiKey;
use crate::live::{Overrides, PoolOverrides, UpdateError};
use crate::store::{Account, ModelEntry, Records, StoreError, check_credentials_size};

const FORMAT: &str = "ai-gateway-export";
const VERSION: u64 = 1;
/// Import bodies may be far larger than other admin calls: many accounts, each with up to
/// 64 KiB of credentials.
pub(super) const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// Every field a document may have.
const FIELDS: &[&str] = &[
    "format",
    "version",
    "exported_at_ms",
    "accounts",
    "models",
    "keys",
    "config",
];

fn store_error(e: StoreError) -> ApiError {
    ApiError::store(e, "record")
}

/// `GET /api/export`: a download holding every account with its credentials, every model and
/// every API key record (hashes, never keys: those are not stored).
pub(super) async fn export(State(app): State<App>) -> Result<Response, ApiError> {
    let store = app.store();
    let accounts = store.list_accounts(None).await.map_err(store_error)?;
    let models = store.list_models().await.map_err(store_error)?;
    let keys = store.list_keys().await.map_err(store_error)?;
    let config = app.live().current();
    let document = Export {
        format: FORMAT,
        version: VERSION,
        exported_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        accounts: &accounts,
        models: &models,
        keys: &keys,
        config: ExportedConfig {
            pool: &config.pool,
            plugins: &config.plugins,
        },
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gateway-export.json\"",
            ),
        ],
        Json(document),
    )
        .into_response())
}

/// The export document, as written.
#[derive(serde::Serialize)]
struct Export<'a> {
    format: &'static str,
    version: u64,
    exported_at_ms: u64,
    accounts: &'a [Account],
    models: &'a [ModelEntry],
    keys: &'a [ApiKey],
    config: ExportedConfig<'a>,
}

/// The runtime config overrides (`/api/config`), secrets included: the export is the one
/// place they leave the store.
#[derive(serde::Serialize)]
struct ExportedConfig<'a> {
    pool: &'a PoolOverrides,
    plugins: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// A document that passed validation.
#[derive(Debug, Default)]
struct Document {
    accounts: Vec<Account>,
    models: Vec<ModelEntry>,
    keys: Vec<ApiKey>,
    config: Option<Overrides>,
}

/// `POST /api/import`: validates everything first (400 naming the problem, nothing written),
/// then creates or replaces every record by id in one store transaction: all of them or none.
/// The config overrides, when present, are applied after the records, as their own versioned
/// write; should that fail, importing the same document again completes it.
pub(super) async fn import(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let doc = parse(&body).map_err(ApiError::bad_request)?;
    if let Some(o) = &doc.config {
        app.live()
            .validate(o)
            .map_err(|e| ApiError::bad_request(format!("config: {e}")))?;
    }
    let store = app.store();
    // The store would refuse a hash held by another key too, but without naming the key.
    for (i, k) in doc.keys.iter().enumerate() {
        if let Some(held) = store.find_key_by_hash(&k.hash).await.map_err(store_error)?
            && held.id != k.id
        {
            return Err(ApiError::bad_request(format!(
                "keys[{i}] (id `{}`): its hash belongs to the stored key `{}`",
                k.id, held.id
            )));
        }
    }

    let records = Records {
        accounts: doc.accounts,
        models: doc.models,
        keys: doc.keys,
    };
    let written = store.put_records(records).await.map_err(store_error)?;
    for a in &written.accounts {
        // Imported credentials may be the fix for a disabled account.
        app.pool().reset(&a.id).await.map_err(store_error)?;
    }
    let config = match doc.config {
        Some(o) => {
            let applied = app.live().replace(o).await.map_err(|e| match e {
                UpdateError::Store(e) => store_error(e),
                other => ApiError::bad_request(format!("config: {other}")),
            })?;
            app.apply(&applied);
            json!({"version": applied.version})
        }
        None => Value::Null,
    };
    app.key_presence().invalidate();
    if let Err(e) = app.models().refresh().await {
        tracing::warn!(error = %e, "model snapshot refresh after an import failed");
    }
    Ok(Json(json!({
        "accounts": Counts::of(written.accounts.iter().map(|a| a.version)),
        "models": Counts::of(written.models.iter().map(|m| m.version)),
        "keys": Counts::of(written.keys.iter().map(|k| k.version)),
        "config": config,
    })))
}

/// Records created and updated by one import.
#[derive(Default, serde::Serialize)]
struct Counts {
    created: usize,
    updated: usize,
}

impl Counts {
    /// Stores start a new record at version 1 and bump it on every write.
    fn of(versions: impl Iterator<Item = u64>) -> Counts {
        let (created, updated) =
            versions.fold((0, 0), |(c, u), v| if v == 1 { (c + 1, u) } else { (c, u + 1) });
        Counts { created, updated }
    }
}

/// Parses and checks the whole document; the error names the first problem found.
fn parse(body: &[u8]) -> Result<Document, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the document is not JSON: {e}"))?;
    let Value::Object(mut doc) = value else {
        return Err("the document must be a JSON object".into());
    };
    if let Some(unknown) = doc.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}`"));
    }
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("`format` must be \"{FORMAT}\""));
    }
    match doc.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "unsupported `version` {v}: this gateway reads version {VERSION}"
            ));
        }
        None => return Err("`version` is missing".into()),
    }

    let accounts: Vec<Account> = records(&mut doc, "accounts")?;
    let mut ids = HashSet::new();
    for (i, a) in accounts.iter().enumerate() {
        let at = format!("accounts[{i}] (id `{}`)", a.id);
        if a.id.is_empty() {
            return Err(format!("accounts[{i}]: `id` must not be empty"));
        }
        if !ids.insert(a.id.as_str()) {
            return Err(format!("{at}: duplicate id"));
        }
        if !valid_channel_name(&a.channel) {
            return Err(format!("{at}: `{}` is not a valid channel name", a.channel));
        }
        check_credentials_size(&a.credentials).map_err(|e| match e {
            StoreError::QuotaExceeded(m) => format!("{at}: {m}"),
            other => format!("{at}: {other}"),
        })?;
    }

    let models: Vec<ModelEntry> = records(&mut doc, "models")?;
    let mut ids = HashSet::new();
    for (i, m) in models.iter().enumerate() {
        let at = format!("models[{i}] (`{}:{}`)", m.channel, m.id);
        if !valid_channel_name(&m.channel) {
            return Err(format!("{at}: `{}` is not a valid channel name", m.channel));
        }
        if m.id.is_empty() || m.upstream_name.is_empty() {
            return Err(format!("{at}: `id` and `upstream_name` must not be empty"));
        }
        if !ids.insert((m.channel.as_str(), m.id.as_str())) {
            return Err(format!("{at}: duplicate model"));
        }
    }

    let keys: Vec<ApiKey> = records(&mut doc, "keys")?;
    let (mut ids, mut hashes) = (HashSet::new(), HashSet::new());
    for (i, k) in keys.iter().enumerate() {
        let at = format!("keys[{i}] (id `{}`)", k.id);
        if k.id.is_empty() {
            return Err(format!("keys[{i}]: `id` must not be empty"));
        }
        if !ids.insert(k.id.as_str()) {
            return Err(format!("{at}: duplicate id"));
        }
        let is_sha256 = k.hash.len() == 64
            && k.hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_sha256 {
            return Err(format!("{at}: `hash` must be a lowercase hex SHA-256"));
        }
        if !hashes.insert(k.hash.as_str()) {
            return Err(format!("{at}: duplicate hash"));
        }
    }
    let config = match doc.remove("config") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Overrides>(v).map_err(|e| format!("config: {e}"))?),
    };
    Ok(Document {
        accounts,
        models,
        keys,
        config,
    })
}

/// The records of section `name` (absent = none), each parsed on its own so an error names it.
fn records<T: DeserializeOwned>(doc: &mut Map<String, Value>, name: &str) -> Result<Vec<T>, String> {
    let items = match doc.remove(name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("`{name}` must be an array")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| serde_json::from_value(item).map_err(|e| format!("{name}[{i}]: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::parse;

    fn problem(doc: serde_json::Value) -> String {
        parse(doc.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn documents_are_checked_before_anything_is_written() {
        let head = json!({"format": "ai-gateway-export", "version": 1});
        let empty = parse(head.to_string().as_bytes()).unwrap();
        assert!(empty.accounts.is_empty() && empty.models.is_empty() && empty.keys.is_empty());
        let mut with_config = head.clone();
        with_config["config"] = json!({"pool": {"max_attempts": 2}, "plugins": {"dummy": {"k": "v"}}});
        let parsed = parse(with_config.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.config.unwrap().pool.max_attempts, Some(2));
        with_config["config"] = json!({"pool": {"max_atempts": 2}});
        assert!(problem(with_config).contains("max_atempts"));

        assert!(problem(json!([])).contains("JSON object"));
        assert!(problem(json!({"format": "other", "version": 1})).contains("format"));
        assert!(problem(json!({"format": "ai-gateway-export", "version": 2})).contains("unsupported"));
        let mut typo = head.clone();
        typo["acounts"] = json!([]);
        assert!(problem(typo).contains("acounts"));

        let account = json!({"id": "a", "channel": "dummy", "credentials": {"k": "v"}});
        let mut doc = head.clone();
        doc["accounts"] = json!([account, {"id": "b"}]);
        let p = problem(doc.clone());
        assert!(p.starts_with("accounts[1]") && p.contains("channel"), "{p}");
        doc["accounts"] = json!([account, account]);
        assert!(problem(doc.clone()).contains("duplicate id"));
        doc["accounts"] = json!([{"id": "a", "channel": "Not Valid"}]);
        assert!(problem(doc.clone()).contains("valid channel name"));
        doc["accounts"] = json!([{"id": "a", "channel": "dummy", "credentials": {"k": "x".repeat(70_000)}}]);
        assert!(problem(doc).contains("65536-byte limit"));

        let mut doc = head.clone();
        let model = json!({"id": "m", "channel": "dummy", "upstream_name": "m", "kind": "chat"});
        doc["models"] = json!([model, model]);
        assert!(problem(doc.clone()).contains("duplicate model"));
        doc["models"] = json!([{"id": "m", "channel": "dummy", "upstream_name": "m", "kind": "sound"}]);
        assert!(problem(doc).starts_with("models[0]"));

        let mut doc = head;
        let key = |id: &str, hash: &str| json!({"id": id, "name": "", "hash": hash, "preview": "gwk-…", "created_at_ms": 1});
        doc["keys"] = json!([key("a", "not-hex")]);
        assert!(problem(doc.clone()).contains("SHA-256"));
        let hash = "ab".repeat(32);
        doc["keys"] = json!([key("a", &hash), key("b", &hash)]);
        assert!(problem(doc).contains("duplicate hash"));
    }
}
