//! The control socket: the protocol (pure) and the server (the loop's side of it).

pub mod protocol;
pub mod server;
pub mod socket_file;
