//! The torrent's timers: one slot per kind, `poll_timeout` is the earliest.

use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    Tick,
    Choke,
    Optimistic,
    Resume,
}

#[derive(Debug, Default)]
pub(super) struct TimerTable([Option<Instant>; 4]);

impl TimerTable {
    pub(super) fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    pub(super) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    pub(super) fn expired(&mut self, t: Timer, now: Instant) -> bool {
        match self.0[t as usize] {
            Some(at) if at <= now => {
                self.0[t as usize] = None;
                true
            }
            _ => false,
        }
    }
}
