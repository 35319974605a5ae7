//! The clock the core sees: milliseconds since the UNIX epoch, advancing monotonically.
//!
//! `myqtt-proto` takes time as a parameter. Using wall-clock milliseconds for its origin keeps
//! stored expiry times meaningful across restarts; advancing with the monotonic clock keeps it
//! from jumping backwards.

use myqtt_proto::time::Instant;

/// Converts the monotonic clock into the core's [`Instant`] and back.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: std::time::Instant,
    base_unix_ms: u64,
}

impl Clock {
    /// A clock anchored at the current wall-clock time.
    pub fn new() -> Self {
        let base_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            base: std::time::Instant::now(),
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

    /// The monotonic instant at which the core's `at` falls.
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        let ms = at.as_millis().saturating_sub(self.base_unix_ms);
        self.base + std::time::Duration::from_millis(ms)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
