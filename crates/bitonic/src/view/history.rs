//! The session's rates over time, for the graphs: a bounded ring of samples, one per snapshot.

use std::collections::VecDeque;

/// The newest `capacity` download and upload rates.
#[derive(Clone, Debug)]
pub struct RateHistory {
    capacity: usize,
    down: VecDeque<u64>,
    up: VecDeque<u64>,
}

impl RateHistory {
    /// At least one sample is kept.
    pub fn new(capacity: usize) -> RateHistory {
        let capacity = capacity.max(1);
        RateHistory {
            capacity,
            down: VecDeque::with_capacity(capacity),
            up: VecDeque::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, down: u64, up: u64) {
        if self.down.len() == self.capacity {
            self.down.pop_front();
            self.up.pop_front();
        }
        self.down.push_back(down);
        self.up.push_back(up);
    }

    pub fn len(&self) -> usize {
        self.down.len()
    }

    pub fn is_empty(&self) -> bool {
        self.down.is_empty()
    }

    /// The newest `n` download rates, oldest first.
    pub fn down(&self, n: usize) -> Vec<u64> {
        newest(&self.down, n)
    }

    pub fn up(&self, n: usize) -> Vec<u64> {
        newest(&self.up, n)
    }

    /// The largest rate of the newest `n` samples (download, upload).
    pub fn peaks(&self, n: usize) -> (u64, u64) {
        let peak = |v: &VecDeque<u64>| v.iter().rev().take(n).copied().max().unwrap_or(0);
        (peak(&self.down), peak(&self.up))
    }
}

fn newest(samples: &VecDeque<u64>, n: usize) -> Vec<u64> {
    samples.iter().skip(samples.len().saturating_sub(n)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_samples_only() {
        let mut history = RateHistory::new(3);
        assert!(history.is_empty());
        for i in 1..=5 {
            history.push(i, 10 * i);
        }
        assert_eq!(history.len(), 3);
        assert_eq!(history.down(10), [3, 4, 5]);
        assert_eq!(history.up(2), [40, 50]);
        assert_eq!(history.peaks(2), (5, 50));
        assert_eq!(RateHistory::new(0).capacity, 1);
    }
}
