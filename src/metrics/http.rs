//! The little HTTP the metrics endpoint speaks (taskmaster(1), METRICS): the head of one request,
//! parsed by `httparse` as its bytes arrive, is judged; the answer is one response, after which
//! the connection is closed. Pure: bytes in, a verdict and the bytes of the answer out.

/// The most a request's head may take.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// The headers of a request that are looked at; more is a head too large.
const MAX_HEADERS: usize = 64;
const PATH: &str = "/metrics";

/// What to do with the bytes of a request received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The head is not complete: read more.
    Incomplete,
    /// `GET /metrics` (`head_only`: `HEAD /metrics`).
    Metrics {
        head_only: bool,
    },
    /// Another path (`head_only`: asked with HEAD, answered without a body).
    NotFound {
        head_only: bool,
    },
    MethodNotAllowed,
    BadRequest,
    HeadTooLarge,
}

/// Judges the request in `bytes` (all that came so far).
pub(crate) fn judge(bytes: &[u8]) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) if length > MAX_HEAD => Verdict::HeadTooLarge,
        Ok(httparse::Status::Complete(_)) => {
            let head_only = match request.method {
                Some("GET") => false,
                Some("HEAD") => true,
                _ => return Verdict::MethodNotAllowed,
            };
            // A query string is allowed (`/metrics?name[]=...`) and ignored.
            let path = request.path.unwrap_or_default();
            match path.split('?').next() == Some(PATH) {
                true => Verdict::Metrics { head_only },
                false => Verdict::NotFound { head_only },
            }
        }
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD => Verdict::HeadTooLarge,
        Ok(httparse::Status::Partial) => Verdict::Incomplete,
        Err(httparse::Error::TooManyHeaders) => Verdict::HeadTooLarge,
        Err(_) => Verdict::BadRequest,
    }
}

/// The whole response for a verdict; `body` is the metrics, used for `Metrics` only.
pub(crate) fn respond(verdict: Verdict, body: &str) -> Vec<u8> {
    let (status, content_type, body, head_only, extra) = match verdict {
        Verdict::Metrics { head_only } => ("200 OK", super::CONTENT_TYPE, body, head_only, ""),
        Verdict::NotFound { head_only } => ("404 Not Found", TEXT, "only /metrics is here\n", head_only, ""),
        Verdict::MethodNotAllowed => {
            ("405 Method Not Allowed", TEXT, "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n")
        }
        Verdict::HeadTooLarge => {
            ("431 Request Header Fields Too Large", TEXT, "the request's head is too large\n", false, "")
        }
        Verdict::BadRequest | Verdict::Incomplete => {
            ("400 Bad Request", TEXT, "not an HTTP request\n", false, "")
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// What a connection beyond the limit is told before it is closed.
pub(crate) fn busy() -> Vec<u8> {
    let body = "too many scrapes at once; try again\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: {TEXT}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const TEXT: &str = "text/plain; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_request_for_another_path_gets_no_body() {
        let answer = String::from_utf8(respond(Verdict::NotFound { head_only: true }, "")).expect("utf-8");
        assert!(answer.starts_with("HTTP/1.1 404 ") && answer.ends_with("\r\n\r\n"), "{answer}");
    }

    #[test]
    fn requests_get_their_verdicts() {
        let cases: &[(&[u8], Verdict)] = &[
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Verdict::Metrics { head_only: false }),
            (b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", Verdict::Metrics { head_only: false }),
            (b"HEAD /metrics HTTP/1.1\r\n\r\n", Verdict::Metrics { head_only: true }),
            (b"GET / HTTP/1.1\r\n\r\n", Verdict::NotFound { head_only: false }),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", Verdict::NotFound { head_only: false }),
            (b"HEAD /nope HTTP/1.1\r\n\r\n", Verdict::NotFound { head_only: true }),
            (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Verdict::MethodNotAllowed),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", Verdict::Incomplete),
            (b"GET /met", Verdict::Incomplete),
            (b"", Verdict::Incomplete),
            (b"\x16\x03\x01\x02\x00\x01\x00", Verdict::BadRequest),
            (b"GET /metrics HTTP/9\r\n\r\n", Verdict::BadRequest),
        ];
        for (bytes, verdict) in cases {
            assert_eq!(judge(bytes), *verdict, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn a_head_too_large_is_said_so() {
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(judge(long.as_bytes()), Verdict::HeadTooLarge, "unfinished");
        assert_eq!(judge(format!("{long}\r\n").as_bytes()), Verdict::HeadTooLarge, "finished");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
        let request = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
        assert_eq!(judge(request.as_bytes()), Verdict::HeadTooLarge, "too many headers");
    }

    #[test]
    fn answers_say_their_length_and_close() {
        let ok = String::from_utf8(respond(Verdict::Metrics { head_only: false }, "a 1\n")).expect("text");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 4\r\nConnection: close\r\n\r\na 1\n"), "{ok}");
        let head = String::from_utf8(respond(Verdict::Metrics { head_only: true }, "a 1\n")).expect("text");
        assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"), "{head}");
        let no = String::from_utf8(respond(Verdict::MethodNotAllowed, "")).expect("text");
        assert!(no.starts_with("HTTP/1.1 405 ") && no.contains("Allow: GET, HEAD\r\n"), "{no}");
        for (verdict, code) in [
            (Verdict::NotFound { head_only: false }, "404"),
            (Verdict::BadRequest, "400"),
            (Verdict::HeadTooLarge, "431"),
        ] {
            let text = String::from_utf8(respond(verdict, "ignored")).expect("text");
            assert!(text.starts_with(&format!("HTTP/1.1 {code} ")), "{text}");
            assert!(!text.contains("ignored"), "{text}");
        }
    }
}
