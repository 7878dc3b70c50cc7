//! A connection after `attach` or `tail -f` has been answered (taskmaster(1), CONTROL PROTOCOL):
//! taskmaster sends the process's output as it comes, a plain byte stream (so `socat` shows it as
//! it is), with its own notes in brackets on lines of their own; the client sends frames, each a
//! kind byte, a length (2 bytes, big-endian) and that many bytes: 1, keys for the process; 2, the
//! window size (rows and columns, 2 bytes each). Pure: bytes in, frames out, and back; and what
//! a terminal program's output holds (its escapes, its alternate screen), for those who show it.

use crate::sys::pty::WindowSize;

const KEYS: u8 = 1;
const RESIZE: u8 = 2;
const HEADER: usize = 3;
/// The most keys one frame carries (more are sent in several).
pub(crate) const MAX_KEYS: usize = 4096;

/// What a client sends on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Keys(Vec<u8>),
    Resize(WindowSize),
}

impl Frame {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (kind, payload) = match self {
            Frame::Keys(keys) => (KEYS, keys.clone()),
            Frame::Resize(size) => (RESIZE, [size.rows.to_be_bytes(), size.cols.to_be_bytes()].concat()),
        };
        let length = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&payload[..usize::from(length)]);
        bytes
    }
}

/// Frames as they arrive, whole or in pieces.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    pending: Vec<u8>,
}

impl FrameReader {
    /// Adds bytes; returns the frames completed, or what is wrong with the stream (the
    /// connection is then closed: nothing after a bad frame can be read right).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, String> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut used = 0;
        while let [kind, high, low, ..] = self.pending[used..] {
            let length = usize::from(u16::from_be_bytes([high, low]));
            let Some(payload) = self.pending.get(used + HEADER..used + HEADER + length) else { break };
            frames.push(match (kind, payload) {
                (KEYS, keys) if keys.len() <= MAX_KEYS => Frame::Keys(keys.to_vec()),
                (KEYS, _) => return Err(format!("a frame of keys longer than {MAX_KEYS} bytes")),
                (RESIZE, &[r1, r2, c1, c2]) => Frame::Resize(WindowSize {
                    rows: u16::from_be_bytes([r1, r2]),
                    cols: u16::from_be_bytes([c1, c2]),
                }),
                (RESIZE, _) => return Err("a window size is 4 bytes".to_string()),
                (other, _) => return Err(format!("unknown frame kind {other}")),
            });
            used += HEADER + length;
        }
        self.pending.drain(..used);
        Ok(frames)
    }
}

/// Ctrl-C.
pub(crate) const CTRL_C: u8 = 0x03;

/// What a full-screen program may have left on in the user's terminal, turned off on leaving
/// (each is harmless when it was off): application cursor keys and keypad, mouse reports,
/// bracketed paste, a hidden cursor, colours.
pub(crate) const MODES_OFF: &[u8] = b"\x1b[?1l\x1b>\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\
\x1b[?2004l\x1b[>4m\x1b[?25h\x1b[0m";

/// To the alternate screen: a viewer attaching to a program that is on it goes there too.
pub(crate) const ALTERNATE_SCREEN_ON: &[u8] = b"\x1b[?1049h";

/// Output shown again without the questions it asked the terminal (where the cursor is, what the
/// terminal is, its colours): a viewer's terminal would answer them again, into the program.
pub(crate) fn without_queries(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let sequence = match &bytes[i..] {
            [0x1b, b'[', rest @ ..] => rest.iter().position(|b| (0x40..=0x7e).contains(b)).map(|end| {
                let query = matches!(rest[end], b'n' | b'c' | b't');
                (2 + end + 1, query)
            }),
            [0x1b, b']', rest @ ..] => {
                let end = rest.windows(2).position(|w| w[0] == 0x07 || w == b"\x1b\\");
                let end = end.or_else(|| (rest.last() == Some(&0x07)).then(|| rest.len() - 1));
                end.map(|end| {
                    let length = if rest[end] == 0x07 { end + 1 } else { end + 2 };
                    (2 + length, rest[..end].contains(&b'?'))
                })
            }
            _ => None,
        };
        match sequence {
            Some((length, true)) => i += length,
            Some((length, false)) => {
                out.extend_from_slice(&bytes[i..i + length]);
                i += length;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Back from the alternate screen (sent only when the program is on it: elsewhere it would move
/// the cursor to a position saved long ago).
pub(crate) const ALTERNATE_SCREEN_OFF: &[u8] = b"\x1b[?1049l";

/// Whether output switches the terminal to its alternate screen (`Some(true)`) or back, by its
/// last switch; `None` when it does neither.
pub(crate) fn screen_switch(bytes: &[u8]) -> Option<bool> {
    let mut last = None;
    let mut at = 0;
    while let Some(i) = bytes[at..].iter().position(|&b| b == 0x1b) {
        let rest = &bytes[at + i..];
        for code in [&b"\x1b[?1049"[..], b"\x1b[?1047", b"\x1b[?47"] {
            if let Some(&end) = rest.strip_prefix(code).and_then(|r| r.first()) {
                match end {
                    b'h' => last = Some(true),
                    b'l' => last = Some(false),
                    _ => {}
                }
            }
        }
        at += i + 1;
    }
    last
}

/// Keys typed while attached, up to the one that leaves: the detach key, or Ctrl-C too where
/// keys go nowhere (`also_ctrl_c`). Returns the keys before it, and whether it came.
pub(crate) fn until_detach(keys: &[u8], detach: u8, also_ctrl_c: bool) -> (&[u8], bool) {
    match keys.iter().position(|&k| k == detach || (also_ctrl_c && k == CTRL_C)) {
        Some(i) => (&keys[..i], true),
        None => (keys, false),
    }
}

/// A line without its escape sequences and control characters (tabs kept).
pub(crate) fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters up to a final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_cut() {
        let frames = vec![
            Frame::Keys(b"ls\r".to_vec()),
            Frame::Resize(WindowSize { rows: 10, cols: 266 }),
            Frame::Keys(Vec::new()),
            Frame::Keys(vec![b'\n'; 300]),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        for cut in 0..bytes.len() {
            let mut reader = FrameReader::default();
            let mut got = reader.push(&bytes[..cut]).expect("good frames");
            got.extend(reader.push(&bytes[cut..]).expect("good frames"));
            assert_eq!(got, frames, "cut at {cut}");
        }
    }

    #[test]
    fn the_detach_key_ends_the_keys() {
        assert_eq!(until_detach(b"ls\r", 0x1d, false), (&b"ls\r"[..], false));
        assert_eq!(until_detach(b"ab\x1dcd", 0x1d, false), (&b"ab"[..], true));
        assert_eq!(until_detach(b"a\x03b", 0x1d, false), (&b"a\x03b"[..], false));
        assert_eq!(until_detach(b"a\x03b", 0x1d, true), (&b"a"[..], true));
    }

    #[test]
    fn the_alternate_screen_is_followed_by_its_last_switch() {
        assert_eq!(screen_switch(b"plain\r\n\x1b[1m"), None);
        assert_eq!(screen_switch(b"\x1b[?1049h\x1b[H"), Some(true));
        assert_eq!(screen_switch(b"\x1b[?1049h..\x1b[?1049l"), Some(false));
        assert_eq!(screen_switch(b"\x1b[?47h"), Some(true));
        assert_eq!(screen_switch(b"x\x1b[?1047l\x1b"), Some(false));
    }

    #[test]
    fn a_tail_is_shown_without_the_escapes_it_holds() {
        assert_eq!(printable("\x1b[?1049h\x1b[1;31mred\x1b[0m\tplain\x07"), "red\tplain");
        assert_eq!(printable("a\x1b]0;title\x07b\x1b]2;t\x1b\\c\x1b[6nd\x1b>e"), "abcde");
        assert_eq!(printable("ünïcode ok"), "ünïcode ok");
    }

    #[test]
    fn a_replay_asks_the_terminal_nothing() {
        assert_eq!(without_queries(b"x\x1b[6ny\x1b[c\x1b[>0cz"), b"xyz");
        assert_eq!(without_queries(b"\x1b]11;?\x07a\x1b]10;?\x1b\\b"), b"ab");
        let drawn = b"\x1b[?1049h\x1b[1;1H\x1b[31mred\x1b]0;title\x07";
        assert_eq!(without_queries(drawn), drawn, "what draws stays");
        assert_eq!(without_queries(b"cut \x1b["), b"cut \x1b[");
    }

    #[test]
    fn a_bad_frame_is_named() {
        let mut reader = FrameReader::default();
        assert!(reader.push(&[9, 0, 0]).unwrap_err().contains("unknown frame kind 9"));
        let mut reader = FrameReader::default();
        assert!(reader.push(&[2, 0, 1, 5]).unwrap_err().contains("4 bytes"));
        let mut reader = FrameReader::default();
        let long = [&[1u8, 0x20, 0][..], &[b'x'; 0x2000]].concat();
        assert!(reader.push(&long).unwrap_err().contains("longer than"));
    }
}
