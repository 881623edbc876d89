//! Credentials: a tenant's `X-API-Key` and the administrator's `X-Admin-Key`.
//!
//! Keys are never logged. The admin key is compared in constant time on SHA-256 digests, so neither
//! its content nor its length leaks through timing; tenant keys are checked by the core (hash lookup).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
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

/// A tenant request's API key (`X-API-Key`), not yet checked: the core checks it on use. The key's
/// request rate is limited here (`--rate-limit`), before the core sees it: 429 with `Retry-After`.
pub struct TenantKey(pub String);

impl FromRequestParts<Arc<AppState>> for TenantKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
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
        if let Err(secs) = state.rate_limiter.check(key, Instant::now()) {
            return Err(ApiError::too_many_requests(
                secs,
                format!(
                    "this API key is over its request rate (--rate-limit, LOGSENTINEL_RATE_LIMIT); \
                     retry after {secs} s"
                ),
            ));
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

/// Who may create projects, decided from the server's settings and the client's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreatePolicy {
    /// The admin key is required (the server has one, or runs with `--protect-create`).
    Admin,
    /// Anyone (no admin key, `--open-project-creation`).
    Anyone,
    /// Loopback clients only (no admin key: the default).
    LoopbackOnly,
}

impl CreatePolicy {
    /// The policy of a server with (or without) an admin key and these flags.
    pub fn of(admin_key: bool, protect_create: bool, open_creation: bool) -> Self {
        if admin_key || protect_create {
            Self::Admin
        } else if open_creation {
            Self::Anyone
        } else {
            Self::LoopbackOnly
        }
    }
}

/// Whether `ip` is this machine (IPv4-mapped IPv6 loopback included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Guard of `POST /projects`: the admin key whenever the server has one (or `--protect-create`);
/// without one, loopback clients only unless `--open-project-creation`. Checked before the body is read.
pub struct CreateAllowed;

impl FromRequestParts<Arc<AppState>> for CreateAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match state.create_policy {
            CreatePolicy::Admin => check_admin(state, &parts.headers)?,
            CreatePolicy::Anyone => {}
            CreatePolicy::LoopbackOnly => {
                // No peer address (a router driven in process) counts as remote: refuse.
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                if !peer.is_some_and(is_loopback) {
                    return Err(ApiError::forbidden(
                        "creating projects from another machine needs an admin key: start the \
                         server with ADMIN_API_KEY (then send X-Admin-Key), or with \
                         --open-project-creation to let anyone create projects",
                    ));
                }
            }
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

    #[test]
    fn creation_needs_the_admin_key_whenever_one_is_configured() {
        use CreatePolicy::*;
        // (admin key, --protect-create, --open-project-creation)
        assert_eq!(CreatePolicy::of(true, false, false), Admin);
        assert_eq!(CreatePolicy::of(true, false, true), Admin);
        assert_eq!(CreatePolicy::of(false, true, true), Admin);
        assert_eq!(CreatePolicy::of(false, false, true), Anyone);
        assert_eq!(CreatePolicy::of(false, false, false), LoopbackOnly);
        for ip in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.7",
            "0.0.0.0",
            "192.168.1.2",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}
