//! Alerts (taskmaster(1), ALERTS): what is said (`event`), when (`throttle`: digests), and how it
//! gets out (`queue`: attempts, limits, retries) are pure and tested with `now` passed in; the
//! sending itself happens in short-lived helper processes (`deliver`, `email`) that the event
//! loop starts and supervises (`event_loop::alerting`), so that no server, however slow or
//! hostile, costs supervision anything.

pub(crate) mod deliver;
mod email;
pub(crate) mod event;
pub(crate) mod queue;
pub(crate) mod throttle;
