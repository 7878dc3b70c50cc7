//! A client's connection after `attach` or `tail -f` was answered (taskmaster(1), CONTROL
//! PROTOCOL): output of the followed process to it, bounded by dropping what it does not take
//! (never by holding the process or the loop back), and frames (keys, window sizes) from it.

use super::{ClientEvent, Server, flush, peer_gone};
use crate::control::stream::{Frame, FrameReader};
use mio::{Registry, Token};
use std::io::{ErrorKind, Read};

/// Output of a followed process queued for a client, at most: what it does not take beyond
/// this is dropped for it (and it is told), never queued without bound.
const STREAM_QUEUE: usize = 256 * 1024;
/// Bytes of frames read from one client per turn: keys come as fast as hands type or paste,
/// and a client that sends more only waits (its keys stay in the socket), never the others.
const FRAMES_PER_TURN: usize = 16 * 1024;

/// A client's stream: frames from it, output to it.
#[derive(Default)]
pub(super) struct Streaming {
    frames: FrameReader,
    /// Bytes of output it did not keep up with since it was last told.
    dropped: u64,
    /// taskmaster has said its last (the process exited): closed once that is sent.
    pub(super) ending: bool,
    /// The client closed its writing side (`nc -N`, socat): it still gets the output.
    done_sending: bool,
    /// The output sent so far stops in the middle of a line: a note needs a line break first.
    mid_line: bool,
}

impl Server {
    /// Turns a connection whose `attach` or `tail -f` was just answered into a stream. What the
    /// client sent after its request, read already as lines, is taken as the frames it is and
    /// returned. `None`: the client is gone, or sent what is no frame (it is dropped).
    pub(crate) fn stream(&mut self, registry: &Registry, token: Token) -> Option<Vec<Frame>> {
        let client = self.clients.get_mut(&token)?;
        let mut early: Vec<u8> =
            client.lines.drain(..).flat_map(|line| [line, vec![b'\n']]).flatten().collect();
        early.extend(client.input.take_partial());
        let mut streaming = Streaming { done_sending: client.done_sending, ..Streaming::default() };
        client.partial_since = None;
        let frames = streaming.frames.push(&early);
        client.streaming = Some(streaming);
        match frames {
            Ok(frames) => {
                self.update_interest(registry, token);
                Some(frames)
            }
            Err(_) => {
                self.drop_client(registry, token);
                None
            }
        }
    }

    /// Queues a followed process's output for a streaming client. What does not fit is dropped
    /// for it; once it keeps up again, a note says how much it missed.
    pub(crate) fn stream_out(&mut self, registry: &Registry, token: Token, bytes: &[u8]) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let Some(stream) = client.streaming.as_mut().filter(|s| !s.ending) else { return };
        if client.output.len() + bytes.len() > STREAM_QUEUE {
            stream.dropped += bytes.len() as u64;
        } else {
            tell_drops(stream, &mut client.output);
            client.output.extend_from_slice(bytes);
            if let Some(last) = bytes.last() {
                stream.mid_line = *last != b'\n';
            }
        }
        if flush(client).is_err() && !self.broken.contains(&token) {
            client.output.clear();
            self.broken.push(token);
        }
        self.update_interest(registry, token);
    }

    /// Ends a client's stream with `note` on a line of its own (the exit of the process it was
    /// attached to): closed once it is sent.
    pub(crate) fn end_stream(&mut self, registry: &Registry, token: Token, note: &str) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let Some(stream) = client.streaming.as_mut() else { return };
        stream.ending = true;
        let before = if stream.mid_line || stream.dropped > 0 { "\r\n" } else { "" };
        client.output.extend_from_slice(format!("{before}{note}\r\n").as_bytes());
        if flush(client).is_err() || client.finished() {
            self.drop_client(registry, token);
            return;
        }
        self.update_interest(registry, token);
    }

    /// Readiness on a streaming client: sends what waits, reads its frames (a budget a turn:
    /// the keys in one event, the last window size in another).
    pub(super) fn ready_stream(
        &mut self,
        registry: &Registry,
        token: Token,
        events: &mut Vec<ClientEvent>,
    ) -> bool {
        let Some(client) = self.clients.get_mut(&token) else { return false };
        let mut closed = flush(client).is_err();
        let Some(stream) = client.streaming.as_mut() else { return false };
        // Caught up after a loss: it is told now, not only when more output comes.
        if client.output.is_empty() && stream.dropped > 0 && !stream.ending {
            tell_drops(stream, &mut client.output);
            closed |= flush(client).is_err();
        }
        let Some(stream) = client.streaming.as_mut() else { return false };
        let mut budget = FRAMES_PER_TURN;
        let mut buf = [0u8; 4 * 1024];
        let mut more = false;
        let (mut keys, mut size) = (Vec::new(), None);
        // Done sending, it is not read any more: a hang-up is looked for instead.
        closed |= stream.done_sending && peer_gone(&client.stream);
        while !closed && !stream.done_sending {
            if budget == 0 {
                more = true;
                break;
            }
            match client.stream.read(&mut buf[..budget.min(4 * 1024)]) {
                // Gone, or only done sending: then the output goes on.
                Ok(0) => match peer_gone(&client.stream) {
                    true => closed = true,
                    false => stream.done_sending = true,
                },
                Ok(n) => {
                    budget -= n;
                    match stream.frames.push(&buf[..n]) {
                        Ok(frames) => {
                            for frame in frames {
                                match frame {
                                    Frame::Keys(more_keys) => keys.extend(more_keys),
                                    Frame::Resize(new) => size = Some(new),
                                }
                            }
                        }
                        Err(_) => closed = true,
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => closed = true,
            }
        }
        if closed || client.finished() {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
            return false;
        }
        if !keys.is_empty() {
            events.push(ClientEvent::Keys(token, keys));
        }
        if let Some(size) = size {
            events.push(ClientEvent::Resize(token, size));
        }
        self.update_interest(registry, token);
        more
    }
}

/// Says how much output a client missed, on a line of its own, once there is room to.
fn tell_drops(stream: &mut Streaming, output: &mut Vec<u8>) {
    if stream.dropped > 0 {
        let note =
            format!("\r\n[{} bytes of output dropped: this client did not keep up]\r\n", stream.dropped);
        output.extend_from_slice(note.as_bytes());
        stream.dropped = 0;
        stream.mid_line = false;
    }
}
