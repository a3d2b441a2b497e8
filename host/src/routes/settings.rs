//! `/api/config`: runtime settings (read with secrets redacted; updated live on every instance).

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::app::App;
use crate::error::ApiError;
use crate::live::UpdateError;
use crate::routes::extract::JsonBody;

pub(super) async fn get(State(app): State<App>) -> Json<Value> {
    Json(app.live().view(app.config()))
}

/// A JSON merge patch over the runtime overrides: `{"pool": {"max_attempts": 5}, "plugins":
/// {"openai": {"base_url": "…"}}}`; `null` restores the file's value; an optional `version`
/// makes the update conditional (409 when another edit landed first).
pub(super) async fn update(
    State(app): State<App>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let applied = app.live().update(patch).await.map_err(|e| match e {
        UpdateError::Invalid(m) => ApiError::bad_request(m),
        e @ UpdateError::Conflict { .. } => ApiError::conflict(e.to_string()),
        UpdateError::Store(e) => ApiError::store(e, "setting"),
    })?;
    app.apply(&applied);
    Ok(Json(app.live().view(app.config())))
}
