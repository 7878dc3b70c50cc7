//! A program's `priority`, `depends_on`, `ready` and `healthcheck` (taskmaster(1), ORDER AND
//! HEALTH), and the checks across programs: every name `depends_on` gives is a program, and no
//! program depends on itself through others (the cycle is named).

use super::super::checks::{
    Address, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_RETRIES, DEFAULT_HEALTH_TIMEOUT, DEFAULT_PRIORITY,
    DEFAULT_READY_TIMEOUT, HealthCheck, HttpTarget, LogPattern, MAX_HEALTH_RETRIES, Probe, Readiness,
};
use super::super::error::nearest;
use super::super::node::Node;
use super::super::raw::{
    HEALTH_KEYS, MAX_SECONDS, READY_KEYS, Read, read_count, read_path, read_seconds, read_text,
};
use super::super::spec::ProgramSpec;
use super::{Here, Validator};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

/// Priorities are compared, never added: any reasonable number will do.
const PRIORITY_RANGE: std::ops::RangeInclusive<i128> = -1_000_000..=1_000_000;
/// The probes each section takes, in the order they are offered in messages.
const READY_PROBES: &[&str] = &["tcp", "http", "cmd", "file", "log"];
const HEALTH_PROBES: &[&str] = &["tcp", "http", "cmd"];

impl Validator<'_> {
    pub(super) fn priority(&mut self, e: &Entries) -> Option<i32> {
        let read = |n: &Node| match n {
            Node::Int(i) if PRIORITY_RANGE.contains(i) => Ok(*i as i32),
            other => Err(format!("expected a whole number (lower starts first), found {}", other.kind())),
        };
        self.key(e, "priority", read, DEFAULT_PRIORITY)
    }

    /// `depends_on: db` or `depends_on: [db, cache]`; whether the names exist is seen later.
    pub(super) fn depends_on(&mut self, e: &Entries, program: &str) -> Option<Vec<String>> {
        let read = |n: &Node| -> Read<Vec<String>> {
            let names = match n {
                Node::Null => Vec::new(),
                Node::Seq(items) => {
                    items.iter().map(|i| read_text(i, "a program name")).collect::<Read<Vec<String>>>()?
                }
                other => vec![read_text(other, "a program name or a list of them, like [db, cache]")?],
            };
            let mut seen = BTreeSet::new();
            for name in &names {
                if name == program {
                    return Err(format!("names `{name}` itself: a program cannot wait for itself"));
                }
                if !seen.insert(name) {
                    return Err(format!("names `{name}` twice; keep one"));
                }
            }
            Ok(names)
        };
        self.key(e, "depends_on", read, Vec::new())
    }

    pub(super) fn ready(&mut self, e: &Entries, base: &Path) -> Option<Option<Readiness>> {
        let Some((at, inner)) = self.section(e, "ready", READY_KEYS, READY_PROBES, "`timeout`")? else {
            return Some(None);
        };
        let probe = self.probe(&at, "ready", &inner, READY_PROBES, base);
        let timeout = self.key(&inner, "timeout", positive_seconds, DEFAULT_READY_TIMEOUT);
        Some(Some(Readiness { probe: probe?, timeout: timeout? }))
    }

    pub(super) fn healthcheck(&mut self, e: &Entries, base: &Path) -> Option<Option<HealthCheck>> {
        let others = "`interval`, `timeout`, `retries`";
        let Some((at, inner)) = self.section(e, "healthcheck", HEALTH_KEYS, HEALTH_PROBES, others)? else {
            return Some(None);
        };
        let probe = self.probe(&at, "healthcheck", &inner, HEALTH_PROBES, base);
        let interval = self.key(&inner, "interval", positive_seconds, DEFAULT_HEALTH_INTERVAL);
        let timeout = self.key(&inner, "timeout", positive_seconds, DEFAULT_HEALTH_TIMEOUT);
        let retries =
            self.key(&inner, "retries", |n| read_count(n, 1, MAX_HEALTH_RETRIES), DEFAULT_HEALTH_RETRIES);
        Some(Some(HealthCheck { probe: probe?, interval: interval?, timeout: timeout?, retries: retries? }))
    }

    /// The mapping under `key`: `Some(None)` when absent or null, `None` after a problem.
    fn section<'n>(
        &mut self,
        e: &Entries<'n>,
        key: &str,
        known: &[&str],
        probes: &[&str],
        others: &str,
    ) -> Option<Option<(Here, Entries<'n>)>> {
        let Some((at, node)) = e.get(key) else { return Some(None) };
        match node {
            Node::Null => Some(None),
            Node::Map(pairs) => Some(Some((at.clone(), self.entries(at, pairs, known)))),
            other => {
                let msg = format!(
                    "expected a mapping with one of {} (and {others}), found {}",
                    keys(probes),
                    other.kind()
                );
                self.problem(at, Some(key), msg);
                None
            }
        }
    }

    /// The one probe of a `ready` or `healthcheck` mapping.
    fn probe(
        &mut self,
        at: &Here,
        section: &str,
        e: &Entries,
        allowed: &[&str],
        base: &Path,
    ) -> Option<Probe> {
        let given: Vec<&str> = allowed.iter().copied().filter(|k| e.contains_key(*k)).collect();
        let (kind, (here, node)) = match given.as_slice() {
            [one] => (*one, &e[*one]),
            [] => {
                let msg = format!("needs one of {}: what to look at", keys(allowed));
                self.problem(at, Some(section), msg);
                return None;
            }
            [first, second, ..] => {
                let msg = format!("has both `{first}` and `{second}`: one probe per `{section}`, keep one");
                self.problem(at, Some(section), msg);
                return None;
            }
        };
        let read = match kind {
            "tcp" => read_address(node).map(Probe::Tcp),
            "http" => read_http(node).map(Probe::Http),
            "cmd" => read_text(node, "a command for sh -c").map(Probe::Cmd),
            "file" => read_path(node, base, self.ctx.home.as_deref()).map(Probe::File),
            _ => read_text(node, "a regular expression").and_then(|text| {
                regex::Regex::new(&text)
                    .map(|regex| Probe::Log(LogPattern { regex }))
                    .map_err(|e| format!("is not a regular expression: {}", one_line(&e.to_string())))
            }),
        };
        match read {
            Ok(probe) => Some(probe),
            Err(message) => {
                self.problem(here, Some(kind), message);
                None
            }
        }
    }

    /// Every name in `depends_on` is a program of the file (`names`), and following them never
    /// comes back (among `programs`, those that could be read).
    pub(super) fn check_order(
        &mut self,
        at: &Here,
        programs: &BTreeMap<String, ProgramSpec>,
        names: &[&str],
    ) {
        for (name, spec) in programs {
            for dep in spec.depends_on.iter().filter(|d| !names.contains(&d.as_str())) {
                let hint = nearest(dep, names).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                let msg = format!("names `{dep}`, which is not a program{hint}");
                let here = self.place(at, name).key("depends_on", 0);
                self.problem(&here, Some("depends_on"), msg);
            }
        }
        for cycle in cycles(programs) {
            let msg = format!("is a cycle: {}; no program of it could ever start", cycle.join(" -> "));
            let here = self.place(at, &cycle[0]).key("depends_on", 0);
            self.problem(&here, Some("depends_on"), msg);
        }
    }
}

/// Each cycle once, as the names along it back to the first (`db -> cache -> db`), found by a
/// depth-first walk in name order.
pub(crate) fn cycles(programs: &BTreeMap<String, ProgramSpec>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = programs.keys().map(|n| (n.as_str(), Mark::New)).collect();
    let mut found = Vec::new();
    for start in programs.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // The path from `start`, each with how many of its dependencies were walked.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((name, next)) = path.last_mut() {
            let deps = &programs[*name].depends_on;
            match deps.get(*next) {
                None => {
                    marks.insert(name, Mark::Done);
                    path.pop();
                }
                Some(dep) => {
                    *next += 1;
                    match marks.get(dep.as_str()).copied() {
                        Some(Mark::New) => {
                            marks.insert(dep, Mark::OnPath);
                            path.push((dep, 0));
                        }
                        Some(Mark::OnPath) => {
                            let from = path.iter().position(|(n, _)| n == dep).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                path[from..].iter().map(|(n, _)| n.to_string()).collect();
                            cycle.push(dep.clone());
                            found.push(cycle);
                        }
                        Some(Mark::Done) | None => {}
                    }
                }
            }
        }
    }
    found
}

fn keys(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|k| format!("`{k}`")).collect();
    quoted.join(", ")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A time that is more than nothing (a check with no time could never pass).
fn positive_seconds(node: &Node) -> Read<Duration> {
    match read_seconds(node) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => {
            Err(format!("expected a number of seconds above 0, at most {MAX_SECONDS}, found {}", node.kind()))
        }
    }
}

/// `127.0.0.1:5432`, `[::1]:80`, `localhost:8080`, or a port alone (on 127.0.0.1).
/// A probe of the kind of `like` at `text`, written for one process (taskmaster(1),
/// VARIABLES); `None` for a kind that is not written with variables, or a text that does not
/// read (it did for the first process, and a number or a name changes no syntax).
pub(crate) fn reprobe(like: &Probe, text: &str, base: &Path, home: Option<&Path>) -> Option<Probe> {
    let node = Node::Str(text.to_string());
    match like {
        Probe::Tcp(_) => read_address(&node).ok().map(Probe::Tcp),
        Probe::Http(_) => read_http(&node).ok().map(Probe::Http),
        Probe::File(_) => read_path(&node, base, home).ok().map(Probe::File),
        Probe::Cmd(_) | Probe::Log(_) => None,
    }
}

pub(super) fn read_address(node: &Node) -> Read<Address> {
    let expected = "HOST:PORT like 127.0.0.1:5432, or a port";
    let text = match node {
        Node::Int(port) => format!("127.0.0.1:{port}"),
        other => match read_text(other, expected)?.trim() {
            port if port.bytes().all(|b| b.is_ascii_digit()) => format!("127.0.0.1:{port}"),
            text => text.to_string(),
        },
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| format!("expected {expected}, found `{text}`"))?;
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("`{port}` is not a port (1 to 65535)")),
    };
    let addr = resolve(host.trim_start_matches('[').trim_end_matches(']'), port)?;
    Ok(Address { text, addr })
}

/// `http://HOST[:PORT]/PATH`.
fn read_http(node: &Node) -> Read<HttpTarget> {
    let text = read_text(node, "a URL like http://127.0.0.1:8080/health")?.trim().to_string();
    if !text.contains("://") {
        return Err(format!("`{text}` is not a URL: write it with http://, like http://{text}"));
    }
    let url = url::Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "https is not spoken by taskmaster's own checks: use `cmd: curl -fsS https://...`".into()
            );
        }
        other => return Err(format!("`{other}:` is not http: use `cmd:` for anything else")),
    }
    let host = url.host_str().ok_or_else(|| format!("`{text}` names no host"))?;
    let port = match url.port_or_known_default().unwrap_or(80) {
        0 => return Err("port 0 is not a port (1 to 65535)".to_string()),
        port => port,
    };
    let addr = resolve(host.trim_start_matches('[').trim_end_matches(']'), port)?;
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    Ok(HttpTarget { text, addr, host: authority, path })
}

/// An IP address, or `localhost`. Any other name would be looked up with the system's resolver,
/// which blocks: the configuration is read again at reload, in the one loop, which must never
/// wait for a DNS server.
fn resolve(host: &str, port: u16) -> Read<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    match host {
        "" => Err("names no host: write 127.0.0.1:PORT".to_string()),
        h if h.eq_ignore_ascii_case("localhost") => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => Err(format!(
            "host `{host}`: write its IP address (or localhost): taskmaster does not wait for a name server"
        )),
    }
}
