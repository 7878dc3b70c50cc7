//! What the line editor is given of the keys read from the terminal (taskmaster(1), COMMANDS):
//! text only, and never a line longer than any command. The terminal library fails on bytes
//! that are not UTF-8 (a Latin-1 paste, an 8-bit Meta key) and redraws a line in time that
//! grows with the square of its length (a pasted 100 KB would hold taskmaster for minutes).
//! So bytes that are not UTF-8 are dropped, a character cut by the end of a read waits for
//! its rest, and a line that grows past `LINE_LIMIT` is dropped as it arrives, up to its end.

/// Bytes on one line, at most.
pub(crate) const LINE_LIMIT: usize = 4096;

#[derive(Default)]
pub(crate) struct Typing {
    /// Bytes on the line: what the editor holds, as it said before this read, and what came since.
    length: usize,
    dropping: bool,
    /// The start of a character whose rest has not come yet.
    partial: Vec<u8>,
}

impl Typing {
    /// The editor's line holds `length` bytes now (it was edited, cleared, recalled).
    pub(crate) fn set_length(&mut self, length: usize) {
        if !self.dropping {
            self.length = length;
        }
    }

    /// Appends to `out` what of `bytes` goes to the editor; true when a line started being
    /// dropped.
    pub(crate) fn filter(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        let mut input = std::mem::take(&mut self.partial);
        input.extend_from_slice(bytes);
        let mut rest = input.as_slice();
        let mut started = false;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    started |= self.take(text, out);
                    return started;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    started |= self.take(std::str::from_utf8(valid).unwrap_or_default(), out);
                    match e.error_len() {
                        Some(bad) => rest = &after[bad..],
                        None => {
                            self.partial = after.to_vec();
                            return started;
                        }
                    }
                }
            }
        }
    }

    fn take(&mut self, text: &str, out: &mut Vec<u8>) -> bool {
        let mut started = false;
        for c in text.chars() {
            // Enter ends a line; Ctrl-U empties it.
            let fresh = matches!(c, '\r' | '\n' | '\u{15}');
            let mut utf8 = [0u8; 4];
            match (self.dropping, fresh) {
                (true, true) => self.dropping = false,
                (true, false) => {}
                (false, true) => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
                (false, false) if self.length + c.len_utf8() > LINE_LIMIT => {
                    self.dropping = true;
                    started = true;
                }
                (false, false) => {
                    self.length += c.len_utf8();
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
            if fresh {
                self.length = 0;
            }
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_limit_is_dropped_up_to_its_end_and_the_next_is_kept() {
        let mut typing = Typing::default();
        let mut out = Vec::new();
        assert!(!typing.filter(&vec![b'x'; LINE_LIMIT - 1], &mut out));
        assert!(typing.filter(b"yz", &mut out), "the byte past the limit starts the drop");
        assert_eq!(out.len(), LINE_LIMIT);
        assert!(!typing.filter(&vec![b'x'; 10_000], &mut out), "told once");
        assert_eq!(out.len(), LINE_LIMIT);
        out.clear();
        typing.filter(b"more\rstatus\r", &mut out);
        assert_eq!(out, b"status\r", "the end of the dropped line goes with it");
        // Enter and Ctrl-U start a line anew: many short lines are never a long one.
        out.clear();
        let lines = b"status\r".repeat(2000);
        assert!(!typing.filter(&lines, &mut out));
        assert_eq!(out, lines);
        assert!(!typing.filter(&[vec![b'x'; LINE_LIMIT], vec![0x15], vec![b'y'; 10]].concat(), &mut out));
    }

    #[test]
    fn the_editors_own_count_of_its_line_is_what_counts() {
        let mut typing = Typing::default();
        let mut out = Vec::new();
        typing.filter(&vec![b'x'; LINE_LIMIT - 10], &mut out);
        // Ctrl-C cleared the line, or arrows moved over it: the editor says what it holds.
        typing.set_length(0);
        assert!(!typing.filter(&vec![b'y'; LINE_LIMIT - 10], &mut out));
        typing.set_length(LINE_LIMIT);
        assert!(typing.filter(b"z", &mut out), "a line made long by the editor (Ctrl-Y) counts too");
    }

    #[test]
    fn only_text_reaches_the_editor_and_no_character_is_cut() {
        let mut typing = Typing::default();
        let mut out = Vec::new();
        typing.filter(b"st\xffat\xc3", &mut out);
        assert_eq!(out, b"stat", "a stray byte is dropped, a cut character waits");
        typing.filter(b"\xa9us\r", &mut out);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "stat\u{e9}us\r");
        // At the limit, a character is kept whole or not at all.
        out.clear();
        typing.filter(&[vec![b'x'; LINE_LIMIT - 1], "é".as_bytes().to_vec()].concat(), &mut out);
        assert!(std::str::from_utf8(&out).is_ok());
        assert_eq!(out.len(), LINE_LIMIT - 1);
    }
}
