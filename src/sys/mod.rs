//! The only module allowed `unsafe`: spawning, reaping, signals, and the terminal. Each unsafe block
//! says why it is sound.
#![allow(unsafe_code)]

mod clone;
pub(crate) mod heap;
pub(crate) mod limits;
pub(crate) mod lookup;
pub(crate) mod memfile;
pub(crate) mod nodelay;
pub(crate) mod outbox;
pub(crate) mod peer;
pub(crate) mod privileges;
pub(crate) mod pty;
pub(crate) mod reap;
pub(crate) mod service;
pub(crate) mod signals;
pub(crate) mod spawn;
pub(crate) mod terminal;
pub(crate) mod tty;
pub(crate) mod typing;
