//! When to try a request again, and how long to wait first.

use super::pool::Response;
use crate::settings::RetryPolicy;
use http::header::RETRY_AFTER;
use http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

impl RetryPolicy {
    /// Exponential backoff with jitter: a random delay in [d/2, d], d = base·2^retry capped.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        half + Duration::from_nanos(jitter(half.as_nanos() as u64))
    }
}

fn jitter(bound: u64) -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    if bound == 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = STATE.fetch_add(nanos | 1, Ordering::Relaxed) ^ nanos;
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) % bound
}

pub(crate) fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (HTTP dates are rare from APIs and are treated as absent).
pub(crate) fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..20 {
            let d = p.backoff(retry);
            let full = p
                .base_delay
                .saturating_mul(1 << retry.min(16))
                .min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} vs {full:?}"
            );
        }
    }
}
