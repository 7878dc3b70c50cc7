//! The only module allowed `unsafe`: spawning, reaping, signals, and the terminal. Each unsafe block
//! says why it is sound.
#![allow(unsafe_code)]

pub mod limits;
pub mod reap;
pub mod signals;
pub mod spawn;
pub mod tty;
