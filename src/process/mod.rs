//! One process: how its runs end (`exit`) and its life as a pure state machine (`state`).

pub mod exit;
pub mod state;

pub use exit::ExitKind;
pub use state::{Cancelled, Effect, Event, Machine, ProcState, StateName, Trigger, restarts_after, step};
