//! A client's connection after `attach` or `tail -f` was answered (taskmaster(1), CONTROL
//! PROTOCOL): output of the followed process to it, bounded by dropping what it does not take
//! (never by holding the process or the loop back), and frames (keys, window sizes) from it.

use super::{ClientEvent, READ_BUDGET, Server, flush};
use crate::control::stream::{Frame, FrameReader};
use mio::{Registry, Token};
use std::io::{ErrorKind, Read};

/// Output of a followed process queued for a client, at most: what it does not take beyond
/// this is dropped for it (and it is told), never queued without bound.
const STREAM_QUEUE: usize = 256 * 1024;

/// A client's stream: frames from it, output to it.
#[derive(Default)]
pub(super) struct Streaming {
    frames: FrameReader,
    /// Bytes of output it did not keep up with since it was last told.
    dropped: u64,
    /// taskmaster has said its last (the process exited): closed once that is sent.
    pub(super) ending: bool,
}

impl Server {
    /// Turns a connection whose `attach` or `tail -f` was just answered into a stream.
    pub(crate) fn stream(&mut self, registry: &Registry, token: Token) {
        if let Some(client) = self.clients.get_mut(&token) {
            client.streaming = Some(Streaming::default());
            client.partial_since = None;
            client.lines.clear();
        }
        self.update_interest(registry, token);
    }

    /// Queues a followed process's output for a streaming client. What does not fit is dropped
    /// for it; once it keeps up again, a note says how much it missed.
    pub(crate) fn stream_out(&mut self, registry: &Registry, token: Token, bytes: &[u8]) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let Some(stream) = client.streaming.as_mut().filter(|s| !s.ending) else { return };
        if client.output.len() + bytes.len() > STREAM_QUEUE {
            stream.dropped += bytes.len() as u64;
        } else {
            if stream.dropped > 0 {
                let note = format!(
                    "\r\n[{} bytes of output dropped: this client did not keep up]\r\n",
                    stream.dropped
                );
                client.output.extend_from_slice(note.as_bytes());
                stream.dropped = 0;
            }
            client.output.extend_from_slice(bytes);
        }
        if flush(client).is_err() {
            // Gone: its readiness (hang-up) says so to the loop.
            client.output.clear();
        }
        self.update_interest(registry, token);
    }

    /// Ends a client's stream with `last` (the exit of the process it was attached to): closed
    /// once it is sent.
    pub(crate) fn end_stream(&mut self, registry: &Registry, token: Token, last: &[u8]) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let Some(stream) = client.streaming.as_mut() else { return };
        stream.ending = true;
        client.output.extend_from_slice(last);
        if flush(client).is_err() || client.finished() {
            self.drop_client(registry, token);
            return;
        }
        self.update_interest(registry, token);
    }

    /// Readiness on a streaming client: sends what waits, reads its frames.
    pub(super) fn ready_stream(
        &mut self,
        registry: &Registry,
        token: Token,
        events: &mut Vec<ClientEvent>,
    ) -> bool {
        let Some(client) = self.clients.get_mut(&token) else { return false };
        let mut closed = flush(client).is_err();
        let mut budget = READ_BUDGET;
        let mut buf = [0u8; 16 * 1024];
        let mut more = false;
        while !closed {
            if budget == 0 {
                more = true;
                break;
            }
            match client.streaming.is_some().then(|| client.stream.read(&mut buf)) {
                Some(Ok(0)) | None => closed = true,
                Some(Ok(n)) => {
                    budget = budget.saturating_sub(n);
                    let frames = client.streaming.as_mut().map(|s| s.frames.push(&buf[..n]));
                    match frames {
                        Some(Ok(frames)) => events.extend(frames.into_iter().map(|f| match f {
                            Frame::Keys(keys) => ClientEvent::Keys(token, keys),
                            Frame::Resize(size) => ClientEvent::Resize(token, size),
                        })),
                        Some(Err(_)) | None => closed = true,
                    }
                }
                Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => break,
                Some(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Some(Err(_)) => closed = true,
            }
        }
        if closed || client.finished() {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
            return false;
        }
        self.update_interest(registry, token);
        more
    }
}
