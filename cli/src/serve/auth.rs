//! Credentials: a tenant's `X-API-Key` and the administrator's `X-Admin-Key`.
//!
//! Keys are never logged. The admin key is compared in constant time on SHA-256 digests, so neither
//! its content nor its length leaks through timing; tenant keys are checked by the core (hash lookup).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// Header carrying a project's API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Header carrying the administrator's key.
pub const ADMIN_KEY_HEADER: &str = "x-admin-key";

/// The configured admin key, kept only as its SHA-256 digest.
#[derive(Clone)]
pub struct AdminKey([u8; 32]);

impl AdminKey {
    /// Keeps the digest of `key`.
    pub fn new(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Whether `presented` is the key, in time independent of where (or whether) they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(..)")
    }
}

/// A tenant request's API key (`X-API-Key`), not yet checked: the core checks it on use.
pub struct TenantKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TenantKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(API_KEY_HEADER)
            .ok_or_else(|| ApiError::unauthorized("missing X-API-Key header"))?;
        let key = value
            .to_str()
            .map_err(|_| ApiError::from(logsentinel::Error::InvalidApiKey))?
            .trim();
        if key.is_empty() {
            return Err(ApiError::unauthorized("missing X-API-Key header"));
        }
        Ok(Self(key.to_string()))
    }
}

/// Proof that the request carries the admin key (`X-Admin-Key`). Refused with 403 when the server has
/// no `ADMIN_API_KEY`, 401 when the header is missing and 403 when it is wrong.
pub struct Admin;

/// Checks the admin credential of a request's headers.
pub fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_key else {
        return Err(ApiError::forbidden(
            "admin endpoints are disabled: the server has no ADMIN_API_KEY",
        ));
    };
    let presented = headers
        .get(ADMIN_KEY_HEADER)
        .ok_or_else(|| ApiError::unauthorized("missing X-Admin-Key header"))?;
    if expected.matches(presented.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("invalid admin key"))
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        check_admin(state, &parts.headers).map(|()| Admin)
    }
}

/// Guard of `POST /projects`: passes everyone, unless the server runs with `--protect-create`, where it
/// is [`Admin`]. Checked before the body is read.
pub struct CreateAllowed;

impl FromRequestParts<Arc<AppState>> for CreateAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if state.protect_create {
            check_admin(state, &parts.headers)?;
        }
        Ok(CreateAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_key_matches_only_itself() {
        let k = AdminKey::new("s3cret");
        assert!(k.matches(b"s3cret"));
        assert!(!k.matches(b"s3cre"));
        assert!(!k.matches(b"s3cret "));
        assert!(!k.matches(b""));
        assert_eq!(format!("{k:?}"), "AdminKey(..)");
    }
}
