//! Tenants: API keys, project state and sessions.

pub mod keys;
pub mod project;
pub mod session;
