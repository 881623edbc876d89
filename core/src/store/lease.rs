//! The lease on a shared database: one instance writes it at a time; others wait (standbys) or are
//! told who holds it.
//!
//! An instance takes the lease when it opens the database (waiting up to
//! [`crate::Config::lease_wait_secs`]), renews it every third of [`crate::Config::lease_ttl_secs`]
//! from a thread of its own, and lets it go when it closes. If it dies, the lease expires after its
//! time-to-live and a standby takes over with a larger fencing token; every write of the old holder
//! is refused from then on (see [`super::PgStore::try_lease`]).

use std::time::{Duration, Instant};

use super::postgres_store::{public_owner, LeaseAttempt, PgStore};
use crate::config::Config;
use crate::error::{Error, Result};

/// The one lease of a shared database.
pub const STORAGE_LEASE: &str = "storage";

/// Longest pause between two attempts while waiting for a lease.
const POLL: Duration = Duration::from_millis(100);

/// This instance as other instances see it: [`Config::instance_id`], else `host:pid`.
pub fn instance_name(config: &Config) -> String {
    if let Some(id) = &config.instance_id {
        return id.clone();
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    };
    format!("{host}:{}", std::process::id())
}

/// A holder name unique to this open detector (`instance#nonce`): a restarted process with the same
/// instance id is another holder, so the old one's late writes stay fenced off.
pub fn holder_name(config: &Config) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{}#{}", instance_name(config), &nonce[..12])
}

/// Takes the storage lease for `holder`, waiting up to `config.lease_wait_secs` while another
/// instance holds it.
pub fn take(store: &PgStore, holder: &str, config: &Config) -> Result<()> {
    let deadline = (config.lease_wait_secs.is_finite())
        .then(|| Instant::now() + Duration::from_secs_f64(config.lease_wait_secs.min(1e9)));
    loop {
        match store.try_lease(STORAGE_LEASE, holder, config.lease_ttl_secs)? {
            LeaseAttempt::Granted { .. } => return Ok(()),
            LeaseAttempt::Held {
                owner,
                expires_in_secs,
            } => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err(Error::LeaseHeld {
                        owner: public_owner(&owner).to_string(),
                        expires_in_secs,
                    });
                }
                let mut pause = POLL.min(Duration::from_secs_f64(expires_in_secs.max(0.01)));
                if let Some(d) = deadline {
                    pause = pause.min(d - now);
                }
                std::thread::sleep(pause);
            }
        }
    }
}
