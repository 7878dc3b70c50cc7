//! The deliveries (taskmaster(1), ALERTS): each message goes through each channel as one
//! delivery, with at most `MAX_IN_FLIGHT` under way, each attempt limited to `ATTEMPT_LIMIT`, and
//! failed attempts tried again after 1 s, then 5 s. Pure: the event loop starts and ends the
//! attempts (helper processes) and passes `now` in.

use super::event::Message;
use crate::config::alerts::Channel;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const MAX_IN_FLIGHT: usize = 8;
/// Under way through one channel at most: a channel that hangs (a tarpit) leaves room for the
/// others.
pub(crate) const MAX_PER_CHANNEL: usize = 4;
/// How long one attempt may take before its helper is killed.
pub(crate) const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// The wait before the second and the third attempt.
pub(crate) const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];
/// Deliveries waiting behind the ones under way, at most; more are refused (and logged).
pub(crate) const MAX_WAITING: usize = 1_000;

pub(crate) type DeliveryId = u64;

/// One message through one channel.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: DeliveryId,
    pub(crate) message: Arc<Message>,
    pub(crate) channel: Channel,
    /// From 1.
    pub(crate) attempt: u32,
    pub(crate) attempts: u32,
    /// An `alerts test`'s number: it reports back instead of being tried again.
    pub(crate) test: Option<u64>,
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Delivered(Delivery),
    /// It failed; tried again at the instant.
    Retry(Delivery, String, Instant),
    /// It failed for the last time.
    Failed(Delivery, String),
}

/// What was sent and what failed, per channel, for `alerts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) last_failure: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    ready: VecDeque<Delivery>,
    /// By the instant they may start again.
    retrying: BTreeMap<(Instant, DeliveryId), Delivery>,
    running: HashMap<DeliveryId, (Delivery, Instant)>,
    next_id: DeliveryId,
    pub(crate) counts: BTreeMap<Channel, Counts>,
}

impl Queue {
    /// Queues `message` through `channel`; `Err` when too many wait already.
    /// Queues `message` through `channel`, ahead of the others when `urgent` (a critical
    /// program's end) or a test (someone waits for it); `Err` when too many wait already.
    pub(crate) fn push(
        &mut self,
        message: Arc<Message>,
        channel: Channel,
        test: Option<u64>,
        urgent: bool,
    ) -> Result<(), Delivery> {
        self.next_id += 1;
        let attempts = if test.is_some() { 1 } else { 1 + RETRY_DELAYS.len() as u32 };
        let delivery = Delivery { id: self.next_id, message, channel, attempt: 1, attempts, test };
        if self.ready.len() + self.retrying.len() >= MAX_WAITING && !urgent {
            self.count(channel, Err("too many alerts waiting"));
            return Err(delivery);
        }
        match urgent || test.is_some() {
            true => self.ready.push_front(delivery),
            false => self.ready.push_back(delivery),
        }
        Ok(())
    }

    /// An `alerts test` nobody waits for any more: what of it has not started is dropped.
    pub(crate) fn forget_test(&mut self, test: u64) {
        self.ready.retain(|d| d.test != Some(test));
    }

    /// The deliveries to start now (their attempts are under way from `now`).
    pub(crate) fn start(&mut self, now: Instant) -> Vec<Delivery> {
        while let Some(entry) = self.retrying.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
        }
        let mut started = Vec::new();
        let mut kept = VecDeque::new();
        while let Some(d) = self.ready.pop_front() {
            let busy = self.running.values().filter(|(r, _)| r.channel == d.channel).count();
            match self.running.len() < MAX_IN_FLIGHT && busy < MAX_PER_CHANNEL {
                true => {
                    self.running.insert(d.id, (d.clone(), now + ATTEMPT_LIMIT));
                    started.push(d);
                }
                false => kept.push_back(d),
            }
            if self.running.len() >= MAX_IN_FLIGHT {
                break;
            }
        }
        kept.extend(self.ready.drain(..));
        self.ready = kept;
        started
    }

    /// A delivery that could not even be started (its helper did not spawn), or that ended;
    /// `again`: whether a failure is worth another attempt.
    pub(crate) fn finished(
        &mut self,
        id: DeliveryId,
        result: Result<(), String>,
        now: Instant,
        again: bool,
    ) -> Option<Outcome> {
        let (delivery, _) = self.running.remove(&id)?;
        let outcome = match result {
            Ok(()) => Outcome::Delivered(delivery),
            Err(why) if again && delivery.attempt < delivery.attempts => {
                let at = now + RETRY_DELAYS[(delivery.attempt - 1) as usize];
                let mut next = delivery.clone();
                next.attempt += 1;
                self.retrying.insert((at, id), next);
                Outcome::Retry(delivery, why, at)
            }
            Err(why) => Outcome::Failed(delivery, why),
        };
        match &outcome {
            Outcome::Delivered(d) => self.count(d.channel, Ok(())),
            Outcome::Failed(d, why) => self.count(d.channel, Err(why)),
            Outcome::Retry(..) => {}
        }
        Some(outcome)
    }

    fn count(&mut self, channel: Channel, result: Result<(), &str>) {
        let counts = self.counts.entry(channel).or_default();
        match result {
            Ok(()) => counts.sent += 1,
            Err(why) => {
                counts.failed += 1;
                counts.last_failure = Some(why.to_string());
            }
        }
    }

    /// Attempts past their limit: their helpers must be killed (they end as failures).
    pub(crate) fn overdue(&self, now: Instant) -> Vec<DeliveryId> {
        self.running.iter().filter(|(_, (_, until))| *until <= now).map(|(id, _)| *id).collect()
    }

    /// An overdue attempt whose helper was just killed: looked at again at `until` (its end
    /// normally comes first, when it is reaped), not at every turn meanwhile.
    pub(crate) fn postpone(&mut self, id: DeliveryId, until: Instant) {
        if let Some((_, deadline)) = self.running.get_mut(&id) {
            *deadline = until;
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let retry = self.retrying.keys().next().map(|(at, _)| *at);
        let limit = self.running.values().map(|(_, until)| *until).min();
        // Ready ones wait for a free place, which only an end (a reaped helper) makes.
        retry.into_iter().chain(limit).min()
    }

    /// Nothing under way or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.retrying.is_empty() && self.running.is_empty()
    }

    /// Everything not delivered yet, given up (shutdown): what was under way, then the rest.
    pub(crate) fn abandon(&mut self) -> Vec<Delivery> {
        let mut all: Vec<Delivery> = self.running.drain().map(|(_, (d, _))| d).collect();
        all.extend(std::mem::take(&mut self.retrying).into_values());
        all.extend(self.ready.drain(..));
        for d in &all {
            self.count(d.channel, Err("taskmaster shut down first"));
        }
        all
    }

    /// Deliveries waiting or under way.
    pub(crate) fn pending(&self) -> usize {
        self.ready.len() + self.retrying.len() + self.running.len()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::super::event::tests::alert;
    use super::*;

    fn message() -> Arc<Message> {
        Arc::new(Message::One(alert("web", "fatal")))
    }

    #[test]
    fn at_most_eight_run_four_a_channel_and_an_end_makes_room() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        for _ in 0..20 {
            q.push(message(), Channel::Email, None, false).expect("room");
            q.push(message(), Channel::Webhook, None, false).expect("room");
        }
        let first = q.start(t0);
        assert_eq!(first.len(), MAX_IN_FLIGHT);
        assert_eq!(first.iter().filter(|d| d.channel == Channel::Email).count(), MAX_PER_CHANNEL);
        assert!(q.start(t0).is_empty(), "no room until one ends");
        assert!(matches!(q.finished(first[0].id, Ok(()), t0, true), Some(Outcome::Delivered(_))));
        let next = q.start(t0);
        assert_eq!((next.len(), next[0].channel), (1, first[0].channel), "the channel that had room");
        assert_eq!(q.counts[&first[0].channel].sent, 1);
        assert_eq!(q.pending(), 39);
    }

    #[test]
    fn a_hung_channel_leaves_room_and_urgent_ones_go_first() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        for _ in 0..10 {
            q.push(message(), Channel::Email, None, false).expect("room");
        }
        assert_eq!(q.start(t0).len(), MAX_PER_CHANNEL, "the email channel hangs");
        q.push(message(), Channel::Webhook, None, false).expect("room");
        q.push(message(), Channel::Email, None, true).expect("room");
        let next = q.start(t0);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].channel, Channel::Webhook, "not stuck behind the email");
        for _ in 0..MAX_WAITING {
            let _ = q.push(message(), Channel::Webhook, None, false);
        }
        assert!(q.push(message(), Channel::Webhook, None, false).is_err(), "full");
        assert!(q.push(message(), Channel::Webhook, None, true).is_ok(), "an urgent one is never refused");
        q.forget_test(1);
    }

    #[test]
    fn three_attempts_one_then_five_seconds_apart_then_a_failure() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut q = Queue::default();
        q.push(message(), Channel::Webhook, None, false).expect("room");
        let d = q.start(t0).remove(0);
        let Some(Outcome::Retry(_, why, at)) = q.finished(d.id, Err("refused".into()), t0, true) else {
            panic!()
        };
        assert_eq!((why.as_str(), at), ("refused", t0 + s(1)));
        assert_eq!(q.next_deadline(), Some(t0 + s(1)));
        assert!(q.start(t0 + Duration::from_millis(999)).is_empty());
        let d = q.start(t0 + s(1)).remove(0);
        assert_eq!(d.attempt, 2);
        let Some(Outcome::Retry(_, _, at)) = q.finished(d.id, Err("refused".into()), t0 + s(1), true) else {
            panic!()
        };
        assert_eq!(at, t0 + s(6));
        let d = q.start(t0 + s(6)).remove(0);
        assert_eq!(d.attempt, 3);
        assert!(matches!(
            q.finished(d.id, Err("refused".into()), t0 + s(6), true),
            Some(Outcome::Failed(..))
        ));
        assert!(q.is_idle());
        assert_eq!(q.counts[&Channel::Webhook].failed, 1, "one failure, not one per attempt");
        q.push(message(), Channel::Webhook, None, false).expect("room");
        let d = q.start(t0).remove(0);
        let outcome = q.finished(d.id, Err("the channel was removed".into()), t0, false);
        assert!(matches!(outcome, Some(Outcome::Failed(..))), "not tried again");
    }

    #[test]
    fn an_attempt_past_its_limit_is_overdue_and_a_test_goes_first_and_once() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.push(message(), Channel::Email, None, false).expect("room");
        q.push(message(), Channel::Email, Some(7), false).expect("room");
        let started = q.start(t0);
        assert_eq!(started[0].test, Some(7));
        assert!(q.overdue(t0 + ATTEMPT_LIMIT - Duration::from_millis(1)).is_empty());
        assert_eq!(q.overdue(t0 + ATTEMPT_LIMIT).len(), 2);
        q.postpone(started[1].id, t0 + ATTEMPT_LIMIT + Duration::from_secs(1));
        assert_eq!(q.overdue(t0 + ATTEMPT_LIMIT).len(), 1, "killed, not a deadline every turn");
        assert!(matches!(q.finished(started[0].id, Err("x".into()), t0, true), Some(Outcome::Failed(..))));
        assert_eq!(q.abandon().len(), 1);
        assert!(q.is_idle());
    }
}
