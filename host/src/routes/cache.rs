//! Admin token-count cache routes: statistics and clearing (this instance's cache only).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::App;
use crate::tokens::CacheStats;

/// `GET /api/config/cache/stats`: size and hit rate of this instance's count_tokens cache.
pub(super) async fn stats(State(app): State<App>) -> Json<CacheStats> {
    Json(app.tokens().cache_stats())
}

/// `POST /api/config/cache/clear`: empties this instance's cache; other instances keep theirs.
pub(super) async fn clear(State(app): State<App>) -> Json<Value> {
    Json(json!({"cleared": app.tokens().clear_cache()}))
}
