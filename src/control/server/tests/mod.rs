//! The server's handling of slow, unfinished and pipelined clients.

use super::*;
use mio::{Events, Poll};

/// A server in a folder of its own, and its poll.
fn server(tag: &str) -> (Server, Poll, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tm-server-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let poll = Poll::new().unwrap();
    let access = Access { mode: crate::config::Mode(0o600), owner: None };
    let mut server = Server::bind(&dir.join("s.sock"), access).unwrap();
    server.register(poll.registry(), Token(0)).unwrap();
    (server, poll, dir)
}

/// Accepts what is pending and lets the server read from every client once.
fn turn(server: &mut Server, poll: &mut Poll, now: Instant) -> Vec<ClientEvent> {
    let mut next = 1;
    let mut events = Events::with_capacity(16);
    poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
    server.accept(poll.registry(), || {
        next += 1;
        Token(next)
    });
    let tokens: Vec<Token> = server.clients.keys().copied().collect();
    let mut out = Vec::new();
    for t in tokens {
        server.ready(poll.registry(), t, now, &mut out);
    }
    out
}

#[test]
fn a_client_that_leaves_a_line_unfinished_is_dropped_after_the_timeout() {
    let (mut server, mut poll, dir) = server("partial");
    let t0 = Instant::now();
    let mut idle = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
    let mut partial = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
    partial.write_all(b"{\"command\": \"sta").unwrap();
    idle.write_all(b"").unwrap();
    assert_eq!(turn(&mut server, &mut poll, t0), vec![]);
    assert_eq!(server.client_count(), 2);
    assert_eq!(server.next_deadline(), Some(t0 + PARTIAL_TIMEOUT));
    let mut events = Vec::new();
    server.expire(poll.registry(), t0 + PARTIAL_TIMEOUT - Duration::from_millis(1), &mut events);
    assert!(events.is_empty());
    server.expire(poll.registry(), t0 + PARTIAL_TIMEOUT, &mut events);
    assert_eq!(events.len(), 1, "only the one with a partial line");
    assert_eq!(server.client_count(), 1);
    assert_eq!(server.next_deadline(), None, "an idle client has no deadline");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_a_line_the_client_leaves_unfinished_counts_towards_the_timeout() {
    let (mut server, mut poll, dir) = server("fair-timeout");
    let t0 = Instant::now();
    let mut busy = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
    // More complete requests than are read ahead: reading pauses in the middle of a line.
    busy.write_all(&b"{\"command\":\"version\"}\n".repeat(5000)).unwrap();
    assert_eq!(turn(&mut server, &mut poll, t0).len(), 1);
    assert_eq!(server.next_deadline(), None, "the pause is taskmaster's, not the client's");

    // A client whose every write ends mid-line, but whose lines do end.
    let mut chatty = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
    chatty.write_all(b"{\"command\":\"version\"}\n{\"comm").unwrap();
    server.accept(poll.registry(), || Token(99));
    let t = Token(99);
    let mut events = Vec::new();
    server.ready(poll.registry(), t, t0, &mut events);
    server.reply(poll.registry(), t, Response::error("answered").to_line());
    assert_eq!(server.clients[&t].partial_since, Some(t0));
    let later = t0 + Duration::from_secs(59);
    chatty.write_all(b"and\":\"version\"}\n{\"co").unwrap();
    server.ready(poll.registry(), t, later, &mut events);
    assert_eq!(server.clients[&t].partial_since, Some(later), "a completed line restarts the time");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_gets_one_request_at_a_time_in_order_and_nothing_is_lost() {
    let (mut server, mut poll, dir) = server("share");
    let mut busy = std::os::unix::net::UnixStream::connect(dir.join("s.sock")).unwrap();
    for i in 0..40 {
        busy.write_all(format!("{{\"command\":\"status\",\"args\":[\"p{i}\"]}}\n").as_bytes()).unwrap();
    }
    let first = turn(&mut server, &mut poll, Instant::now());
    assert_eq!(first.len(), 1, "one request is handed out");
    let token = server.clients.keys().copied().next().unwrap();
    let mut events = Vec::new();
    assert!(
        !server.ready(poll.registry(), token, Instant::now(), &mut events),
        "none more until it is answered"
    );
    assert!(events.is_empty());
    let mut seen = first;
    while server.reply(poll.registry(), token, Response::error("answered").to_line()) {
        server.ready(poll.registry(), token, Instant::now(), &mut seen);
        if seen.len() == 40 {
            break;
        }
    }
    let asked: Vec<String> = seen
        .iter()
        .map(|e| match e {
            ClientEvent::Request(_, r) => r.args.join(" "),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
    assert_eq!(asked, expected, "in the order sent, nothing lost");
    let _ = std::fs::remove_dir_all(&dir);
}
