//! Per-key request rate limits: one token bucket per presented `X-API-Key`.
//!
//! A bucket holds at most `burst` tokens and refills at `rate` tokens a second; each request takes one.
//! Buckets are keyed by the SHA-256 digest of the key (no secret is kept) and checked before the core
//! sees the key, so a flood with one key, valid or not, costs the others nothing. The table is bounded:
//! past [`MAX_BUCKETS`] keys, buckets that have refilled (equivalent to no bucket) are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// Most buckets kept at once (about 80 bytes each).
pub const MAX_BUCKETS: usize = 100_000;

/// Requests per second and burst of every key; `rate == 0` turns limiting off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub rate: f64,
    /// Bucket size: requests a key may send at once after being idle.
    pub burst: f64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of every key seen.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl RateLimiter {
    /// A limiter applying `limit` to each key.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.limit.rate > 0.0
    }

    /// Takes a token for `key` at `now`: `Ok(())`, or `Err(seconds)` until the next token (at least 1,
    /// the `Retry-After` value).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let id: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let RateLimit { rate, burst } = self.limit;
        // A poisoned lock only means another request panicked mid-update: the table is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&id) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_BUCKETS {
                // Every bucket is in use: forget them all rather than grow without bound.
                buckets.clear();
            }
        }
        let b = buckets.entry(id).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_keys_are_independent() {
        let l = RateLimiter::new(RateLimit {
            rate: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("sk-a", t0), Ok(()));
        }
        assert_eq!(l.check("sk-a", t0), Err(1));
        assert_eq!(
            l.check("sk-b", t0),
            Ok(()),
            "another key has its own bucket"
        );
        // Half a second refills one token at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check("sk-a", t1), Ok(()));
        assert!(l.check("sk-a", t1).is_err());
        // Idle for long: back to the burst, never more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check("sk-a", t2), Ok(()));
        }
        assert!(l.check("sk-a", t2).is_err());
    }

    #[test]
    fn retry_after_covers_the_wait_for_one_token() {
        let l = RateLimiter::new(RateLimit {
            rate: 0.1,
            burst: 1.0,
        });
        let t0 = Instant::now();
        assert_eq!(l.check("k", t0), Ok(()));
        assert_eq!(l.check("k", t0), Err(10));
    }

    #[test]
    fn rate_zero_is_off_and_the_table_stays_bounded() {
        let off = RateLimiter::new(RateLimit {
            rate: 0.0,
            burst: 0.0,
        });
        assert!((0..1000).all(|_| off.check("k", Instant::now()).is_ok()));
        let l = RateLimiter::new(RateLimit {
            rate: 1.0,
            burst: 1.0,
        });
        let now = Instant::now();
        for i in 0..MAX_BUCKETS + 10 {
            let _ = l.check(&format!("sk-{i}"), now);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }
}
