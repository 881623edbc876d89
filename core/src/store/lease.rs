//! Leases on a shared database: what one instance writes at a time; others wait or are told who
//! holds it.
//!
//! With [`crate::LeaseScope::Storage`] one lease covers the database: an instance takes it when it
//! opens the database (waiting up to [`crate::Config::lease_wait_secs`]). With
//! [`crate::LeaseScope::Project`] each project has its own lease, taken by the instance that serves
//! the project's first call (state read back from the database at every take), and the shared
//! teacher is written under the [`TEACHER_LEASE`]. Either way the holder renews what it holds every
//! third of [`crate::Config::lease_ttl_secs`] from a thread of its own, in one statement, and lets it
//! go when it closes. If it dies, its leases expire after their time-to-live and another instance
//! takes over with a larger fencing token; every write of the old holder is refused from then on
//! (see [`super::PgStore::try_lease`]).

use std::time::{Duration, Instant};

use super::postgres_store::{public_owner, LeaseAttempt, PgStore};
use crate::config::Config;
use crate::error::{Error, Result};

/// The one lease of a shared database ([`crate::LeaseScope::Storage`]).
pub const STORAGE_LEASE: &str = "storage";

/// The lease under which the shared teacher, its vocabulary and its history are written
/// ([`crate::LeaseScope::Project`]): one teacher update for the whole fleet at a time.
pub const TEACHER_LEASE: &str = "teacher";

/// The lease of one project ([`crate::LeaseScope::Project`]).
pub fn project_lease(project_id: &str) -> String {
    format!("project/{project_id}")
}

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
    take_named(store, STORAGE_LEASE, holder, config, config.lease_wait_secs).map(|_| ())
}

/// Takes (or renews) the lease `name` for `holder`, waiting up to `wait_secs` (`inf`: for good)
/// while another holder has it; returns its fencing token.
pub fn take_named(
    store: &PgStore,
    name: &str,
    holder: &str,
    config: &Config,
    wait_secs: f64,
) -> Result<i64> {
    let deadline = (wait_secs.is_finite())
        .then(|| Instant::now() + Duration::from_secs_f64(wait_secs.clamp(0.0, 1e9)));
    loop {
        match store.try_lease(name, holder, config.lease_ttl_secs)? {
            LeaseAttempt::Granted { token } => return Ok(token),
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
