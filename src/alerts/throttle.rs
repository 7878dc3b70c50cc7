//! Digests (taskmaster(1), ALERTS, `min_interval`): the first alert of a program goes out at once;
//! the ones that follow within `min_interval` of it wait and go out together, as one digest,
//! when the interval is over. So a storm of a thousand crashing processes of one program is two
//! messages, not a thousand. Pure: `now` is passed in.

use super::event::{Alert, Digest, Message};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Events kept in one digest, at most; the others are counted.
pub(crate) const MAX_DIGEST_EVENTS: usize = 50;

#[derive(Debug, Default)]
pub(crate) struct Throttle {
    programs: HashMap<String, Slot>,
    /// When each program's digest is due.
    due: BTreeSet<(Instant, String)>,
}

#[derive(Debug)]
struct Slot {
    last_sent: Instant,
    waiting: Vec<Alert>,
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
                waiting: Vec::new(),
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
        match slot.waiting.len() < MAX_DIGEST_EVENTS {
            true => slot.waiting.push(alert),
            false => slot.omitted += 1,
        }
        None
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
        let mut events = std::mem::take(&mut slot.waiting);
        let omitted = std::mem::take(&mut slot.omitted);
        slot.last_sent = now;
        match (events.len(), omitted) {
            (0, 0) => None,
            (1, 0) => events.pop().map(Message::One),
            _ => Some(Message::Digest(Digest {
                event: "digest".into(),
                program: program.to_string(),
                host: slot.host.clone(),
                events,
                omitted,
            })),
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
