//! The control vocabulary and the socket: the commands (one table drives parsing, help and
//! completion), the protocol (pure), the server (the loop's side of it), the socket's file.

pub mod command;
pub mod protocol;
pub mod render;
pub mod reply;
pub mod server;
pub mod socket_file;
