//! The control vocabulary and the socket: the commands (one table drives parsing, help and
//! completion), the protocol (pure), the server (the loop's side of it), the socket's file.

pub(crate) mod access;
pub(crate) mod command;
pub(crate) mod protocol;
pub(crate) mod render;
pub(crate) mod reply;
pub(crate) mod server;
pub(crate) mod socket_file;
pub(crate) mod stream;
