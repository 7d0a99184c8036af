//! Reading a JSON request body: one place for the errors of a missing, unreadable or malformed
//! body, so every route names them the same way.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The body as `T`: 400 `invalid_body` when it cannot be read, `invalid_json` when it is not
/// JSON of that shape (serde's message names the field and the type it wanted).
pub(crate) fn parse<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    if body.is_empty() {
        return Err(ApiError::bad_request("invalid_json", format!("the body is empty; it must be {what}")));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not {what}: {e}")))
}
