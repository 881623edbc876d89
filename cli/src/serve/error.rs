//! Errors of the HTTP API: every one is a JSON `{"error", "code"}` with a 4xx status for a client's
//! mistake and a 5xx only for the server's own failures.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use logsentinel::{Error, ErrorKind};
use serde::de::DeserializeOwned;

use super::api::ErrorBody;

/// An error answered as `{"error", "code"}` with its HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds for a `Retry-After` header (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: the caller's key is over its request rate; it may retry after `secs` seconds.
    pub fn too_many_requests(secs: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message)
        }
    }

    /// 401: no credential was presented.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403: the credential does not grant this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 500: the server failed (never a client's mistake).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }
}

/// The HTTP status of each core error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidApiKey => StatusCode::UNAUTHORIZED,
        ErrorKind::ProjectNotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Closed => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Cancelled => StatusCode::CONFLICT,
        // Another instance holds the shared database: a router forwards to the one named.
        ErrorKind::LeaseHeld => StatusCode::CONFLICT,
        // InvalidConfig (a server setting), Storage, Model and kinds added later: the server's fault.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        Self::new(status_of(kind), kind.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            eprintln!(
                "logsentinel serve: {} {}: {}",
                self.status.as_u16(),
                self.code,
                self.message
            );
        }
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_string(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The code and status of a JSON body that could not be taken.
fn json_rejection(r: JsonRejection) -> ApiError {
    let text = r.body_text();
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "expected a body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_JSON", text)
        }
        JsonRejection::JsonDataError(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", text)
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", text),
    }
}

/// 413 for a body over the limit.
pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "request body exceeds the server's limit (LOGSENTINEL_MAX_BODY_BYTES)",
    )
}

/// A JSON body extractor whose refusals are [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

/// A query-string extractor whose refusals are [`ApiError`]s.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", r.body_text())
}

/// The code of an error status produced outside the handlers (routing, body limits, panics).
fn code_of_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        s if s.is_server_error() => "INTERNAL",
        _ => "BAD_REQUEST",
    }
}

/// Middleware step: an error response that is not JSON yet (axum's 404/405, tower-http's 413, a caught
/// panic) is replaced by the JSON error of its status, so every error has the same shape.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "no such endpoint (see GET /openapi.json)".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "method not allowed on this endpoint (see GET /openapi.json)".to_string()
        }
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large().message,
        s => s.canonical_reason().unwrap_or("error").to_string(),
    };
    let (mut parts, _) = response.into_parts();
    let mut out = ApiError::new(status, code_of_status(status), message).into_response();
    // Keep headers such as `Allow` on a 405.
    if let Some(allow) = parts.headers.remove(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// The body of a caught panic: a 500 that never shows the panic's text (it may quote request data).
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    eprintln!("logsentinel serve: a request handler panicked");
    let mut r = ApiError::internal("internal error").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx_and_server_failures_5xx() {
        assert_eq!(
            ApiError::from(Error::InvalidApiKey).status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ApiError::from(Error::invalid_input("x")).code,
            "INVALID_INPUT"
        );
        assert_eq!(
            ApiError::from(Error::ProjectNotFound { id: "a".into() }).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(Error::Closed).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(ApiError::from(Error::storage("disk"))
            .status
            .is_server_error());
        assert_eq!(
            code_of_status(StatusCode::PAYLOAD_TOO_LARGE),
            "PAYLOAD_TOO_LARGE"
        );
    }
}
