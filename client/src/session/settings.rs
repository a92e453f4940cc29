//! Per-torrent settings changed at run time (file priorities, piece order, rate, seed and
//! connection limits): one value that is saved in the state directory, restored with the
//! torrent, and carried over when a torrent is reopened after a recheck or a move.

use std::time::Duration;

use freshet_engine::FilePriority;

/// A torrent's run-time settings (defaults: nothing set).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TorrentSettings {
    /// File priorities in geometry order (padding files included), as levels
    /// (`0` skip, `1` low, `2` normal, `3` high); empty: all normal.
    priorities: Vec<u8>,
    /// Sequential (streaming) piece order.
    pub(crate) sequential: bool,
    /// Download limit in bytes per second (`0`: unlimited).
    pub(crate) rate_down: u64,
    /// Upload limit in bytes per second (`0`: unlimited).
    pub(crate) rate_up: u64,
    /// Seed ratio limit.
    pub(crate) seed_ratio: Option<f64>,
    /// Seed time limit in seconds.
    seed_time_secs: Option<u64>,
    /// Connection limit of this torrent (`None`: the client's default).
    pub(crate) max_connections: Option<usize>,
}

impl TorrentSettings {
    /// The file priorities (geometry order).
    pub(crate) fn priorities(&self) -> Vec<FilePriority> {
        self.priorities
            .iter()
            .map(|&l| match l {
                0 => FilePriority::Skip,
                1 => FilePriority::Low,
                3 => FilePriority::High,
                _ => FilePriority::Normal,
            })
            .collect()
    }

    /// Sets the file priorities (geometry order); all normal is stored as nothing.
    pub(crate) fn set_priorities(&mut self, priorities: &[FilePriority]) {
        self.priorities = if priorities.iter().all(|p| *p == FilePriority::Normal) {
            Vec::new()
        } else {
            priorities
                .iter()
                .map(|p| match p {
                    FilePriority::Skip => 0,
                    FilePriority::Low => 1,
                    FilePriority::Normal => 2,
                    FilePriority::High => 3,
                })
                .collect()
        };
    }

    /// The seed time limit.
    pub(crate) fn seed_time(&self) -> Option<Duration> {
        self.seed_time_secs.map(Duration::from_secs)
    }

    /// Sets the seed time limit (whole seconds are kept).
    pub(crate) fn set_seed_time(&mut self, time: Option<Duration>) {
        self.seed_time_secs = time.map(|d| d.as_secs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_json_and_default_when_absent() {
        let mut s = TorrentSettings {
            sequential: true,
            rate_down: 1000,
            seed_ratio: Some(1.5),
            max_connections: Some(7),
            ..TorrentSettings::default()
        };
        s.set_priorities(&[FilePriority::Skip, FilePriority::High, FilePriority::Normal]);
        s.set_seed_time(Some(Duration::from_secs(90)));
        let json = serde_json::to_string(&s).unwrap();
        let back: TorrentSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.priorities(),
            vec![FilePriority::Skip, FilePriority::High, FilePriority::Normal]
        );
        assert_eq!(back.seed_time(), Some(Duration::from_secs(90)));
        let empty: TorrentSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, TorrentSettings::default());
    }
}
