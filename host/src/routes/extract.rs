//! Admin request extractors whose rejections are `ApiError`s, so malformed input gets the same
//! JSON error shape as every other admin error instead of axum's plain-text rejection.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use crate::error::ApiError;

/// A JSON request body (`Content-Type: application/json`).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(super) struct JsonBody<T>(pub T);

/// Query-string parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(super) struct QueryParams<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejected(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejected(r.status(), r.body_text())
    }
}

/// Keeps axum's status (415 without a JSON content type, 413 over the body limit) except that
/// a body that does not fit the expected shape is a 400, as everywhere else in the gateway.
fn rejected(status: StatusCode, message: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "request_too_large", message),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::bad_request(message),
        _ => ApiError::new(status, "invalid_request_error", message),
    }
}
