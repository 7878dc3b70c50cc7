//! One process: how its runs end (`exit`) and its life as a pure state machine (`state`).

pub(crate) mod exit;
pub(crate) mod state;
mod words;
pub(crate) use words::in_seconds;

pub(crate) use exit::ExitKind;
pub use state::StateName;
pub(crate) use state::{
    Cancelled, Effect, Event, Machine, ProcState, Reason, Then, Trigger, restarts_after, step,
};
