//! The control protocol (taskmaster(1), CONTROL PROTOCOL): one JSON object per line each way. Pure:
//! bytes in, values out, and back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest request line accepted; a longer one closes the connection.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// `{"command": "status", "args": ["web:*"]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// `{"ok": true, "output": "...", "data": ...}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Response {
    pub(crate) ok: bool,
    pub(crate) output: String,
    pub(crate) data: Value,
}

impl Response {
    pub(crate) fn error(output: impl Into<String>) -> Response {
        Response { ok: false, output: output.into(), data: Value::Null }
    }

    /// The response as one line, newline included.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self)
            .unwrap_or_else(|_| br#"{"ok":false,"output":"internal error","data":null}"#.to_vec());
        line.push(b'\n');
        line
    }
}

impl Request {
    pub(crate) fn new(command: &str, args: &[String]) -> Request {
        Request { command: command.to_string(), args: args.to_vec() }
    }

    /// Reads one request line (without its newline): a JSON object, nothing else (serde would
    /// take an array of the fields in order too).
    pub(crate) fn from_line(line: &[u8]) -> Result<Request, ProtocolError> {
        if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ProtocolError::Malformed("a request is a JSON object, {\"command\": ...}".into()));
        }
        serde_json::from_slice(line).map_err(|e| ProtocolError::Malformed(e.to_string()))
    }

    pub(crate) fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Why what a client sent is not a request; `Display` is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// Not JSON, or not the JSON of a request.
    Malformed(String),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ProtocolError::Malformed(why) => write!(f, "malformed request: {why}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What a connection's input buffer holds after new bytes: complete lines to handle, and whether
/// the unfinished rest has grown past `MAX_LINE`.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Framed {
    Line(Vec<u8>),
    TooLong,
}

impl LineBuffer {
    /// Adds bytes and returns every complete line (blank ones too: the server skips them, and
    /// gives them back as they came when the connection becomes a stream), or `TooLong` once a
    /// line exceeds the limit.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Framed> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let line = std::mem::take(&mut self.pending);
            if line.len() > MAX_LINE {
                out.push(Framed::TooLong);
                return out;
            }
            out.push(Framed::Line(line));
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() > MAX_LINE {
            out.push(Framed::TooLong);
        }
        out
    }

    /// The unfinished line's bytes, taken (the connection becomes a stream: they are frames).
    pub(crate) fn take_partial(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Whether an unfinished line is held.
    pub(crate) fn has_partial(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The end of the input ends the line it was in: the unfinished rest, if not blank.
    pub(crate) fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_round_trip() {
        let r = Request::new("status", &["web:*".to_string()]);
        let line = r.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(Request::from_line(&line[..line.len() - 1]), Ok(r));
        assert_eq!(Request::from_line(br#"{"command":"version"}"#), Ok(Request::new("version", &[])));
    }

    #[test]
    fn responses_round_trip_on_one_line() {
        let r = Response { ok: true, output: "a\nb".into(), data: json!([{"name": "x", "ok": true}]) };
        let line = r.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "newlines inside are escaped");
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn malformed_requests_say_why() {
        assert!(Request::from_line(b"status").unwrap_err().to_string().starts_with("malformed request"));
        assert!(Request::from_line(br#"{"command": 3}"#).is_err());
        assert!(Request::from_line(br#"{"command": "x", "bogus": 1}"#).is_err());
        assert!(Request::from_line(br#"{"args": []}"#).is_err());
        assert!(
            Request::from_line(br#"["signal", ["USR1", "a"]]"#)
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
    }

    #[test]
    fn lines_are_split_across_reads_blank_ones_included() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"{\"a\":"), vec![]);
        assert_eq!(
            b.push(b"1}\n\n  \n{\"b\""),
            vec![Framed::Line(b"{\"a\":1}".to_vec()), Framed::Line(Vec::new()), Framed::Line(b"  ".to_vec())]
        );
        assert_eq!(b.push(b":2}\n"), vec![Framed::Line(b"{\"b\":2}".to_vec())]);
    }

    #[test]
    fn the_end_of_input_ends_the_last_line() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"{\"a\":1}\n{\"b\""), vec![Framed::Line(b"{\"a\":1}".to_vec())]);
        assert_eq!(b.finish(), Some(b"{\"b\"".to_vec()));
        assert!(!b.has_partial());
        assert_eq!(b.push(b"  "), vec![]);
        assert_eq!(b.finish(), None, "blanks are no request");
    }

    #[test]
    fn an_overlong_line_is_refused_even_without_a_newline() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(&vec![b'x'; MAX_LINE]), vec![]);
        assert_eq!(b.push(b"yy"), vec![Framed::TooLong]);
        let mut b = LineBuffer::default();
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        assert_eq!(b.push(&long), vec![Framed::TooLong]);
    }
}
