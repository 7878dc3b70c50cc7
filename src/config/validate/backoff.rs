//! A program's `backoff: {base, max}` (taskmaster(1), PROCESS STATES): how long BACKOFF waits
//! before each retry.

use super::super::node::Node;
use super::super::raw::{BACKOFF_KEYS, MAX_SECONDS, Read, read_seconds};
use super::super::spec::Backoff;
use super::{Here, Validator};
use std::collections::BTreeMap;
use std::time::Duration;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

impl Validator<'_> {
    /// `backoff`, absent or null: 1, 2, 3... seconds.
    pub(super) fn backoff(&mut self, e: &Entries) -> Option<Backoff> {
        let Some((at, pairs)) = self.mapping(e, "backoff", "{base: 1, max: 30} (seconds)")? else {
            return Some(Backoff::default());
        };
        // Its keys' problems say whose they are: `program 'web': backoff: base: ...`.
        let at = Here { section: format!("{}: backoff", at.section).into(), ..at };
        let inner = self.entries(&at, pairs, BACKOFF_KEYS);
        let defaults = Backoff::default();
        let base = self.key(&inner, "base", positive, defaults.base);
        let max = self.key(
            &inner,
            "max",
            |n| match n {
                Node::Null => Ok(None),
                other => positive(other).map(Some),
            },
            defaults.max,
        );
        let backoff = Backoff { base: base?, max: max? };
        if let Some(max) = backoff.max
            && max < backoff.base
        {
            let here = inner.get("max").map_or(at, |(h, _)| h.clone());
            let default = if inner.contains_key("base") { "" } else { ", the default" };
            let msg = format!(
                "{} s is below base ({} s{default}): the wait would never grow",
                max.as_secs_f64(),
                backoff.base.as_secs_f64()
            );
            self.problem(&here, Some("max"), msg);
            return None;
        }
        Some(backoff)
    }
}

/// Seconds above 0.
fn positive(node: &Node) -> Read<Duration> {
    match read_seconds(node) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => {
            Err(format!("expected a number of seconds above 0, at most {MAX_SECONDS}, found {}", node.kind()))
        }
    }
}
