//! Output lines sent to syslog (`stdout: syslog`; taskmaster(1), CHILD LOGS): one datagram per
//! line to `syslog_address`, in the format local syslog daemons read (RFC 3164, as glibc's
//! syslog(3) writes it), tagged with the process name and pid; stdout at `info`, stderr at
//! `warning`, facility `daemon`. The socket never blocks: a line the daemon has no room for is
//! dropped and counted, and the count said once lines get through again.

use crate::config::alerts::SyslogAddress;
use crate::config::describe_io;
use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Instant;
use syslog::{Facility, Formatter3164, LogFormat, Severity};

/// The longest line sent whole; the rest of a longer one is cut off (a datagram has a size
/// limit, and syslog daemons truncate long before it).
const MAX_LINE: usize = 8 * 1024;

enum Socket {
    Unix(UnixDatagram, std::path::PathBuf),
    Udp(UdpSocket, SocketAddr),
}

/// Where output lines go to syslog, and what went wrong there.
pub(crate) struct Syslog {
    address: SyslogAddress,
    socket: Result<Socket, String>,
    host: Option<String>,
    /// Why the last send failed, until one succeeds.
    pub(crate) failing: Option<String>,
    /// Lines dropped since the last that got through.
    dropped: u64,
    /// Recoveries, to be logged as such.
    pub(crate) notes: Vec<String>,
    buf: Vec<u8>,
    /// When it was made (a failed lookup is tried again `RETRY` later).
    pub(crate) made_at: Instant,
}

/// How long a syslog socket that could not be made (a host name not found) waits before the
/// next start of a program tries again: the lookup blocks the loop.
pub(crate) const RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Who a line is from.
pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) severity: Severity,
}

impl Syslog {
    /// A socket to send to `address` (a host name is looked up once, here).
    pub(crate) fn new(address: &SyslogAddress, now: Instant) -> Syslog {
        let socket = match address {
            SyslogAddress::Unix(path) => UnixDatagram::unbound()
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .map(|s| Socket::Unix(s, path.clone()))
                .map_err(|e| describe_io(&e)),
            SyslogAddress::Udp(to) => udp(&to.host, to.port),
        };
        let host = match address {
            SyslogAddress::Udp(_) => nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()),
            SyslogAddress::Unix(_) => None,
        };
        Syslog {
            address: address.clone(),
            socket,
            host,
            failing: None,
            dropped: 0,
            notes: Vec::new(),
            buf: Vec::new(),
            made_at: now,
        }
    }

    /// Whether its socket could be made.
    pub(crate) fn usable(&self) -> bool {
        self.socket.is_ok()
    }

    pub(crate) fn address(&self) -> &SyslogAddress {
        &self.address
    }

    /// Sends each line of `lines` (ended by newlines, the last one maybe not). Returns what is
    /// to be logged: a failure the first time, the dropped count once lines get through again.
    pub(crate) fn send(&mut self, tag: &Tag, lines: &[u8]) -> Vec<String> {
        let mut said = Vec::new();
        for line in lines.split_inclusive(|b| *b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let text = String::from_utf8_lossy(&text[..text.len().min(MAX_LINE)]);
            let formatter = Formatter3164 {
                facility: Facility::LOG_DAEMON,
                hostname: self.host.clone(),
                process: tag.name.clone(),
                pid: tag.pid,
            };
            self.buf.clear();
            if formatter.format(&mut self.buf, tag.severity, text).is_err() {
                continue;
            }
            let sent = match &self.socket {
                Ok(Socket::Unix(socket, path)) => socket.send_to(&self.buf, path).map(drop),
                Ok(Socket::Udp(socket, to)) => socket.send_to(&self.buf, to).map(drop),
                Err(why) => Err(std::io::Error::other(why.clone())),
            };
            match sent {
                Ok(()) => {
                    if self.dropped > 0 {
                        let dropped = std::mem::take(&mut self.dropped);
                        let said = match self.failing.is_some() {
                            true => &mut self.notes,
                            false => &mut said,
                        };
                        said.push(match self.failing.take() {
                            Some(_) => format!(
                                "syslog at {} can be reached again; {dropped} lines of output were lost meanwhile",
                                self.address
                            ),
                            None => format!(
                                "{dropped} lines of output were not sent to syslog at {}: it did not keep up",
                                self.address
                            ),
                        });
                    }
                    self.failing = None;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.dropped += 1,
                Err(e) => {
                    self.dropped += 1;
                    if self.failing.is_none() {
                        let line = format!(
                            "couldn't write output of {} to syslog at {}: {}",
                            tag.name,
                            self.address,
                            describe_io(&e)
                        );
                        self.failing = Some(line.clone());
                        said.push(line);
                    }
                }
            }
        }
        said
    }
}

fn udp(host: &str, port: u16) -> Result<Socket, String> {
    let to = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("couldn't resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let local = if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    let socket = UdpSocket::bind(local).map_err(|e| describe_io(&e))?;
    socket.set_nonblocking(true).map_err(|e| describe_io(&e))?;
    Ok(Socket::Udp(socket, to))
}
