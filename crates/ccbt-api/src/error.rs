//! API errors: an HTTP status, a stable snake_case code that scripts may match on, and a
//! message for people. Rendered as `{"error": {"code": ..., "message": ...}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ccbt_engine::SessionError;
use serde::Serialize;

/// One refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 409 with `code`: the request conflicts with the daemon's state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 500: something on the daemon's side failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// The error of a session call about torrent `what`.
    pub fn from_session(error: &SessionError, what: &str) -> ApiError {
        let message = error.to_string();
        match error {
            SessionError::UnknownTorrent(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "torrent_not_found", format!("no torrent {what}"))
            }
            SessionError::MetadataPending(_) => ApiError::new(
                StatusCode::CONFLICT,
                "metadata_pending",
                format!("torrent {what} is still fetching its metadata"),
            ),
            SessionError::DuplicateTorrent { .. } => {
                ApiError::new(StatusCode::CONFLICT, "duplicate_torrent", message)
            }
            SessionError::ReadTorrentFile { .. } => ApiError::bad_request("unreadable_torrent_file", message),
            SessionError::InvalidTorrent { .. } | SessionError::MissingPieceLayers { .. } => {
                ApiError::bad_request("invalid_torrent", message)
            }
            SessionError::InvalidMagnet(_) => ApiError::bad_request("invalid_magnet", message),
            SessionError::InvalidSelection(_) => ApiError::bad_request("invalid_file_selection", message),
            SessionError::ShutDown => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            _ => ApiError::internal(message),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Inner { code: self.code, message: &self.message } };
        // Serializing two strings cannot fail; the fallback keeps the answer JSON anyway.
        let text = serde_json::to_string(&body)
            .unwrap_or_else(|_| format!("{{\"error\":{{\"code\":\"{}\",\"message\":\"\"}}}}", self.code));
        let mut response = (self.status, text).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON answer with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => ApiError::internal(format!("cannot encode the answer: {e}")).into_response(),
    }
}
