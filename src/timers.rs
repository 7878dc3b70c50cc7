//! The deadline queue: at most one deadline per process (the one its state holds), so arming a
//! new one replaces the old. Cancelled or replaced entries stay in the heap and are skipped when
//! they surface (lazy cancellation). Pure: `now` is always passed in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    armed: HashMap<K, Instant>,
}

impl<K: Ord + std::hash::Hash> Default for Timers<K> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), armed: HashMap::new() }
    }
}

impl<K: Copy + Ord + std::hash::Hash> Timers<K> {
    pub(crate) fn new() -> Self {
        Timers { heap: BinaryHeap::new(), armed: HashMap::new() }
    }

    /// Arms `key` for `deadline`, replacing what it had; `None` disarms it.
    pub(crate) fn set(&mut self, key: K, deadline: Option<Instant>) {
        match deadline {
            Some(at) if self.armed.get(&key) == Some(&at) => {}
            Some(at) => {
                self.armed.insert(key, at);
                self.heap.push(Reverse((at, key)));
                self.compact();
            }
            None => {
                self.armed.remove(&key);
            }
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn earliest(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if self.armed.get(key) == Some(at) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Disarms and returns every key whose deadline is at or before `now`, earliest first.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(at) = self.earliest() {
            if at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.heap.pop() {
                self.armed.remove(&key);
                due.push(key);
            }
        }
        due
    }

    pub(crate) fn is_armed(&self, key: K) -> bool {
        self.armed.contains_key(&key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Rebuilds the heap when stale entries outnumber live ones, so memory stays bounded however
    /// often deadlines are replaced.
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.armed.len() + 64 {
            self.heap = self.armed.iter().map(|(k, at)| Reverse((*at, *k))).collect();
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_deadlines_come_out_in_order_and_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::new();
        timers.set(1u64, Some(ms(30)));
        timers.set(2, Some(ms(10)));
        timers.set(3, Some(ms(20)));
        assert_eq!(timers.earliest(), Some(ms(10)));
        assert_eq!(timers.due(ms(25)), vec![2, 3]);
        assert_eq!(timers.due(ms(25)), Vec::<u64>::new());
        assert_eq!(timers.due(ms(30)), vec![1]);
        assert_eq!(timers.earliest(), None);
    }

    #[test]
    fn rearming_replaces_and_none_disarms() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::new();
        timers.set(1u64, Some(ms(10)));
        timers.set(1, Some(ms(50)));
        timers.set(2, Some(ms(20)));
        timers.set(2, None);
        assert_eq!(timers.due(ms(40)), Vec::<u64>::new(), "the replaced and the disarmed do not fire");
        assert_eq!(timers.due(ms(50)), vec![1]);
        assert!(timers.is_empty());
    }

    #[test]
    fn a_past_deadline_means_no_sleep() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.set(1u64, Some(t0));
        assert_eq!(timers.due(t0 + Duration::from_secs(1)), vec![1], "a past deadline is due");
    }

    #[test]
    fn the_heap_stays_bounded_when_deadlines_churn() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        for i in 0..10_000u64 {
            timers.set(i % 3, Some(t0 + Duration::from_millis(i)));
        }
        assert!(timers.heap.len() < 100, "{} entries", timers.heap.len());
        assert_eq!(timers.len(), 3);
    }
}
