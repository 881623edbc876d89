//! Tenants: API keys, project state and sessions.

pub mod feedback;
pub mod incident;
pub mod keys;
pub mod project;
pub mod session;
