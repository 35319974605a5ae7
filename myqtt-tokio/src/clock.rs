//! The clock the core sees: milliseconds since the UNIX epoch, advancing monotonically.
//!
//! `myqtt-proto` takes time as a parameter. Using wall-clock milliseconds for its origin keeps
//! stored expiry times meaningful across restarts; advancing with tokio's monotonic clock keeps
//! it from jumping backwards (and lets tests pause time).

use myqtt_proto::time::Instant;

/// Converts tokio's monotonic time into the core's [`Instant`].
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: tokio::time::Instant,
    base_unix_ms: u64,
}

impl Clock {
    /// A clock anchored at the current wall-clock time.
    pub fn new() -> Self {
        let base_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            base: tokio::time::Instant::now(),
            base_unix_ms,
        }
    }

    /// The current time for the core.
    pub fn now(&self) -> Instant {
        let elapsed = self.base.elapsed().as_millis();
        Instant::from_millis(
            self.base_unix_ms
                .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX)),
        )
    }

    /// The tokio instant at which the core's `at` falls.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        let ms = at.as_millis().saturating_sub(self.base_unix_ms);
        self.base + std::time::Duration::from_millis(ms)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
