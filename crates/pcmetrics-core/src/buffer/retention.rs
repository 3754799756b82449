//! How much local history the buffer keeps.
//!
//! Retention is a span of time, but the wall clock is not trusted to measure it alone: one
//! minute with the clock in 2030 (a bad RTC, a dual boot, a VM restored with a stale clock)
//! would make every sample and rollup look years old, and pruning would delete all local
//! history. So a sample goes only when it is older than `samples` by the clock **and** at
//! least `samples / sampling_interval` samples were taken after it (as many as the
//! retention holds at the sampling rate), and a rollup minute only when it is older than
//! `rollups` and at least `rollups / 1 min` newer minutes exist. A clock jump in either
//! direction therefore deletes nothing that the retention would keep at the right time;
//! a PC that was off for days keeps more than the span (never more than the count).

use std::time::Duration;

use crate::config::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Synced samples at full resolution.
    pub samples: Duration,
    /// Per-minute rollups.
    pub rollups: Duration,
    /// The sampling cadence, which turns `samples` into a count.
    pub sampling_interval: Duration,
}

impl Retention {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            samples: s.buffer.retention,
            rollups: s.buffer.rollup_retention,
            sampling_interval: s.sampling.interval,
        }
    }

    /// Samples always kept, whatever the clock says: what `samples` holds at the
    /// sampling rate.
    pub fn samples_kept_min(&self) -> i64 {
        (self.samples.as_micros() / self.sampling_interval.as_micros().max(1)) as i64
    }

    /// Rollup minutes always kept.
    pub fn rollups_kept_min(&self) -> i64 {
        (self.rollups.as_secs() / 60) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_sampling_rate() {
        let r = Retention {
            samples: Duration::from_secs(30 * 86_400),
            rollups: Duration::from_secs(400 * 86_400),
            sampling_interval: Duration::from_secs(1),
        };
        assert_eq!(r.samples_kept_min(), 2_592_000);
        assert_eq!(r.rollups_kept_min(), 576_000);
        let slow = Retention {
            sampling_interval: Duration::from_secs(10),
            ..r
        };
        assert_eq!(slow.samples_kept_min(), 259_200);
    }
}
