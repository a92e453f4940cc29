//! Transfer rates over a rolling window, advanced by the engine's one-second tick.

use std::time::Duration;

/// Bytes counted per tick over a rolling window of [`RateWindow::SLOTS`] ticks.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateWindow {
    slots: [u64; Self::SLOTS],
    current: u64,
    filled: usize,
    head: usize,
    total: u64,
}

impl RateWindow {
    /// Window length in ticks (one tick per second): 20 s, as tit-for-tat needs.
    pub(crate) const SLOTS: usize = 20;

    pub(crate) fn add(&mut self, bytes: u64) {
        self.current += bytes;
        self.total += bytes;
    }

    /// Closes the current tick.
    pub(crate) fn tick(&mut self) {
        self.slots[self.head] = self.current;
        self.head = (self.head + 1) % Self::SLOTS;
        self.filled = (self.filled + 1).min(Self::SLOTS);
        self.current = 0;
    }

    /// Average bytes per second over the closed ticks of the window (0 before the first).
    pub(crate) fn rate(&self, tick: Duration) -> u64 {
        if self.filled == 0 {
            return 0;
        }
        let sum: u64 = self.slots.iter().sum();
        let secs = tick.as_secs_f64() * self.filled as f64;
        (sum as f64 / secs) as u64
    }

    /// Bytes per second in the most recent closed tick (fast-reacting, for pipelining).
    pub(crate) fn last(&self, tick: Duration) -> u64 {
        if self.filled == 0 {
            return 0;
        }
        let i = (self.head + Self::SLOTS - 1) % Self::SLOTS;
        (self.slots[i] as f64 / tick.as_secs_f64()) as u64
    }

    /// Bytes over the window's whole life.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_over_closed_ticks_only() {
        let mut r = RateWindow::default();
        r.add(1000);
        assert_eq!(r.rate(Duration::from_secs(1)), 0);
        r.tick();
        r.add(3000);
        r.tick();
        assert_eq!(r.rate(Duration::from_secs(1)), 2000);
        assert_eq!(r.last(Duration::from_secs(1)), 3000);
        for _ in 0..RateWindow::SLOTS {
            r.tick();
        }
        assert_eq!(
            r.rate(Duration::from_secs(1)),
            0,
            "old data leaves the window"
        );
        assert_eq!(r.total(), 4000);
    }
}
