//! Per-caller rate limiting: a token bucket per API key or user, refilled continuously.
//!
//! Off by default (`[rate_limit]`). Applies to reserve, upload and list, the routes the
//! reference limits. In memory and per process, like the reference; buckets idle for five
//! minutes are dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Principal, Result, Service, ServiceError};

/// Token buckets.
pub struct RateLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<(HashMap<String, (f64, Instant)>, Instant)>,
}

impl RateLimiter {
    /// A limiter allowing `burst` at once and `per_sec` sustained.
    pub fn new(burst: u32, per_sec: f64) -> Self {
        Self { burst: burst as f64, per_sec, buckets: Mutex::new((HashMap::new(), Instant::now())) }
    }

    /// Takes one token for `who`, or says how many seconds until one is available.
    pub fn take(&self, who: &str, now: Instant) -> std::result::Result<(), u64> {
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (map, last_prune) = &mut *guard;
        if now.duration_since(*last_prune) > Duration::from_secs(60) {
            map.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(300));
            *last_prune = now;
        }
        let (tokens, last) = map.entry(who.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

impl Service {
    /// Charges one request to the caller's bucket (no-op when rate limiting is off).
    pub fn rate_limit(&self, who: &Principal) -> Result<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.take(&who.label(), Instant::now()).map_err(|retry_after_secs| {
            crate::metrics::rate_limited();
            ServiceError::RateLimited { retry_after_secs }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(3, 2.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("k", t0).is_ok());
        }
        assert_eq!(l.take("k", t0), Err(1));
        assert!(l.take("other", t0).is_ok(), "buckets are per caller");
        assert!(l.take("k", t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take("k", t0 + Duration::from_millis(500)).is_err());
    }
}
