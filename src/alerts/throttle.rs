//! Digests (taskmaster(1), ALERTS, `min_interval`): the first alert of a program goes out at once;
//! the ones that follow within `min_interval` of it wait and go out together, as one digest,
//! when the interval is over. So a storm of a thousand crashing processes of one program is two
//! messages, not a thousand. A digest keeps the newest events, and gives up a FATAL last. Pure:
//! `now` is passed in.

use super::event::{Alert, Digest, Message};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Events kept in one digest, at most; the others are counted.
pub(crate) const MAX_DIGEST_EVENTS: usize = 50;
/// The events of a digest that keep their output (the newest): enough to see what happened,
/// few enough that a digest stays small.
pub(crate) const DIGEST_TAILS: usize = 5;

#[derive(Debug, Default)]
pub(crate) struct Throttle {
    programs: HashMap<String, Slot>,
    /// When each program's digest is due.
    due: BTreeSet<(Instant, String)>,
}

#[derive(Debug)]
struct Slot {
    last_sent: Instant,
    waiting: VecDeque<Alert>,
    omitted: usize,
    host: String,
}

impl Throttle {
    /// An alert about a process of `alert.program`: the message to send now, or none when it
    /// waits for the program's digest. `urgent` ones (a critical program's end) never wait.
    pub(crate) fn offer(
        &mut self,
        alert: Alert,
        now: Instant,
        interval: Duration,
        urgent: bool,
    ) -> Option<Message> {
        let program = alert.program.clone();
        let quiet = match self.programs.get(&program) {
            None => true,
            Some(slot) => slot.waiting.is_empty() && now >= slot.last_sent + interval,
        };
        if quiet || urgent || interval.is_zero() {
            let host = alert.host.clone();
            let slot = self.programs.entry(program).or_insert_with(|| Slot {
                last_sent: now,
                waiting: VecDeque::new(),
                omitted: 0,
                host,
            });
            slot.last_sent = now;
            return Some(Message::One(alert));
        }
        let Some(slot) = self.programs.get_mut(&program) else { return Some(Message::One(alert)) };
        if slot.waiting.is_empty() {
            self.due.insert((slot.last_sent + interval, program));
        }
        if slot.waiting.len() >= MAX_DIGEST_EVENTS {
            // The oldest that is not a FATAL makes room (all FATALs: the oldest of them).
            let drop = slot.waiting.iter().position(|a| a.event != "fatal").unwrap_or(0);
            slot.waiting.remove(drop);
            slot.omitted += 1;
        }
        slot.waiting.push_back(alert);
        None
    }

    /// Forgets the waiting events `keep` refuses (a reload changed `events`, or turned alerts
    /// off); returns how many.
    pub(crate) fn retain(&mut self, keep: impl Fn(&Alert) -> bool) -> usize {
        let mut dropped = 0;
        for slot in self.programs.values_mut() {
            let before = slot.waiting.len();
            slot.waiting.retain(|a| keep(a));
            dropped += before - slot.waiting.len();
        }
        dropped
    }

    /// The digests due at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            if let Some((_, program)) = self.due.pop_first() {
                out.extend(self.take(&program, now));
            }
        }
        out
    }

    /// Every digest still waiting, now (at shutdown, or when alerts are turned off).
    pub(crate) fn flush(&mut self, now: Instant) -> Vec<Message> {
        let programs: Vec<String> = std::mem::take(&mut self.due).into_iter().map(|(_, p)| p).collect();
        programs.iter().filter_map(|p| self.take(p, now)).collect()
    }

    fn take(&mut self, program: &str, now: Instant) -> Option<Message> {
        let slot = self.programs.get_mut(program)?;
        let mut events: Vec<Alert> = std::mem::take(&mut slot.waiting).into();
        let omitted = std::mem::take(&mut slot.omitted);
        slot.last_sent = now;
        match (events.len(), omitted) {
            (0, _) => None,
            (1, 0) => events.pop().map(Message::One),
            _ => {
                let older = events.len().saturating_sub(DIGEST_TAILS);
                for event in &mut events[..older] {
                    event.stdout_tail.clear();
                    event.stderr_tail.clear();
                }
                Some(Message::Digest(Digest {
                    event: "digest".into(),
                    program: program.to_string(),
                    host: slot.host.clone(),
                    events,
                    omitted,
                }))
            }
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Events waiting for a digest.
    pub(crate) fn waiting(&self) -> usize {
        self.programs.values().map(|s| s.waiting.len() + s.omitted).sum()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::super::event::tests::alert;
    use super::*;

    #[test]
    fn the_first_goes_at_once_and_the_rest_as_one_digest() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Throttle::default();
        let minute = s(60);
        assert!(matches!(t.offer(alert("web:web_00", "fatal"), t0, minute, false), Some(Message::One(_))));
        for i in 1..=5 {
            assert_eq!(t.offer(alert(&format!("web:web_0{i}"), "fatal"), t0 + s(i), minute, false), None);
        }
        assert_eq!(t.waiting(), 5);
        assert_eq!(t.next_deadline(), Some(t0 + minute));
        assert!(t.due(t0 + s(59)).is_empty());
        let due = t.due(t0 + minute);
        let [Message::Digest(d)] = due.as_slice() else { panic!("one digest: {due:?}") };
        assert_eq!(d.events.len(), 5);
        assert_eq!(t.waiting(), 0);
        // Another program is not held back by this one.
        assert!(t.offer(alert("db", "fatal"), t0 + s(61), minute, false).is_some());
        // The next alert of web waits for the interval after the digest.
        assert_eq!(t.offer(alert("web:web_00", "recovered"), t0 + s(70), minute, false), None);
        let due = t.due(t0 + s(120));
        assert!(matches!(due.as_slice(), [Message::One(a)] if a.event == "recovered"), "{due:?}");
        // Quiet for the interval: straight out again.
        assert!(t.offer(alert("web:web_00", "fatal"), t0 + s(200), minute, false).is_some());
    }

    #[test]
    fn a_storm_is_bounded_and_counted() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let minute = Duration::from_secs(60);
        let sent = (0..1000)
            .filter_map(|i| t.offer(alert(&format!("web:web_{i}"), "fatal"), t0, minute, false))
            .count();
        assert_eq!(sent, 1);
        let due = t.flush(t0);
        let [Message::Digest(d)] = due.as_slice() else { panic!("{due:?}") };
        assert_eq!((d.events.len(), d.omitted), (MAX_DIGEST_EVENTS, 999 - MAX_DIGEST_EVENTS));
        assert_eq!(d.events.last().map(|a| a.name.as_str()), Some("web:web_999"), "the newest are kept");
        let with_output = d.events.iter().filter(|a| !a.stderr_tail.is_empty()).count();
        assert_eq!(with_output, DIGEST_TAILS, "only the newest keep their output");
    }

    #[test]
    fn a_full_digest_gives_up_other_events_before_a_fatal_and_a_reload_can_thin_it() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let minute = Duration::from_secs(60);
        t.offer(alert("web:web_00", "exited_unexpected"), t0, minute, false);
        t.offer(alert("web:web_00", "fatal"), t0, minute, false);
        for _ in 0..200 {
            t.offer(alert("web:web_01", "recovered"), t0, minute, false);
        }
        assert_eq!(t.retain(|a| a.event != "started"), 0);
        let due = t.flush(t0);
        let [Message::Digest(d)] = due.as_slice() else { panic!("{due:?}") };
        assert_eq!(d.events[0].event, "fatal", "kept through the storm");
        assert_eq!(d.omitted, 201 - MAX_DIGEST_EVENTS);
        t.offer(alert("db", "fatal"), t0, minute, false);
        t.offer(alert("db", "recovered"), t0, minute, false);
        assert_eq!(t.retain(|a| a.event != "recovered"), 1);
        assert!(t.flush(t0).is_empty(), "nothing left to send");
    }

    #[test]
    fn urgent_and_zero_interval_never_wait() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let minute = Duration::from_secs(60);
        assert!(t.offer(alert("db", "fatal"), t0, minute, false).is_some());
        assert!(t.offer(alert("db", "fatal"), t0, minute, true).is_some());
        assert!(t.offer(alert("db", "fatal"), t0, Duration::ZERO, false).is_some());
        assert_eq!(t.next_deadline(), None);
    }
}
