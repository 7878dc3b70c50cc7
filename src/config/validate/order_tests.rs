use super::*;
use crate::config::checks::{DEFAULT_PRIORITY, Probe};
use std::time::Duration;

fn ctx() -> Context {
    Context::for_tests("/etc/tm")
}

fn programs(text: &str) -> Result<BTreeMap<String, ProgramSpec>, String> {
    validate(&format!("programs:\n{text}"), "t.yaml", &ctx()).map(|c| c.programs).map_err(|e| e.to_string())
}

fn one(body: &str) -> Result<ProgramSpec, String> {
    programs(&format!("  web:\n    cmd: a\n{body}")).map(|p| p.into_values().next().expect("a program"))
}

#[test]
fn order_keys_default_to_nothing_special() {
    let p = one("").expect("valid");
    assert_eq!((p.priority, p.depends_on.len(), p.ready, p.healthcheck), (DEFAULT_PRIORITY, 0, None, None));
}

#[test]
fn depends_on_takes_a_name_or_a_list_of_known_programs() {
    let p = programs(
        "  db: {cmd: a}\n  cache: {cmd: a}\n  app: {cmd: a, depends_on: [db, cache], priority: 5}\n",
    )
    .expect("valid");
    assert_eq!(p["app"].depends_on, ["db", "cache"]);
    assert_eq!(p["app"].priority, 5);
    let p = programs("  db: {cmd: a}\n  app: {cmd: a, depends_on: db}\n").expect("valid");
    assert_eq!(p["app"].depends_on, ["db"]);
    let e = programs("  db: {cmd: a}\n  app: {cmd: a, depends_on: [dbb]}\n").expect_err("unknown");
    assert!(
        e.contains("t.yaml:3:") && e.contains("`dbb`, which is not a program (did you mean `db`?)"),
        "{e}"
    );
    let e = programs("  app: {cmd: a, depends_on: [app]}\n").expect_err("itself");
    assert!(e.contains("cannot wait for itself"), "{e}");
    let e = programs("  db: {cmd: a}\n  app: {cmd: a, depends_on: [db, db]}\n").expect_err("twice");
    assert!(e.contains("names `db` twice"), "{e}");
}

#[test]
fn a_cycle_is_an_error_that_names_it() {
    let text = "  db: {cmd: a, depends_on: cache}\n  cache: {cmd: a, depends_on: [web]}\n  \
                web: {cmd: a, depends_on: db}\n  ok: {cmd: a, depends_on: db}\n";
    let e = programs(text).expect_err("a cycle");
    assert!(e.contains("cache -> web -> db -> cache"), "{e}");
    assert_eq!(e.matches("is a cycle").count(), 1, "said once: {e}");
    let e = programs("  a: {cmd: a, depends_on: b}\n  b: {cmd: a, depends_on: a}\n").expect_err("a cycle");
    assert!(e.contains("a -> b -> a") && e.contains("program 'a'"), "{e}");
    // A diamond is no cycle.
    programs("  a: {cmd: a, depends_on: [b, c]}\n  b: {cmd: a, depends_on: d}\n  c: {cmd: a, depends_on: d}\n  d: {cmd: a}\n")
        .expect("a diamond");
}

#[test]
fn ready_and_healthcheck_read_their_probe_and_times() {
    let p = one("    ready: {tcp: 127.0.0.1:5432, timeout: 30}\n").expect("valid");
    let ready = p.ready.expect("ready");
    assert_eq!(ready.timeout, Duration::from_secs(30));
    assert!(matches!(ready.probe, Probe::Tcp(ref a) if a.addr.port() == 5432), "{:?}", ready.probe);
    let p = one("    ready: {log: 'ready to (accept|serve)'}\n").expect("valid");
    assert!(matches!(p.ready.expect("ready").probe, Probe::Log(ref l) if l.regex.is_match("ready to serve")));
    let p = one("    workingdir: /srv\n    ready: {file: run/ready}\n").expect("valid");
    assert_eq!(p.ready.expect("ready").probe, Probe::File("/srv/run/ready".into()));
    let p =
        one("    healthcheck: {http: 'http://localhost:8080/health?deep=1', interval: 2}\n").expect("valid");
    let check = p.healthcheck.expect("a check");
    assert_eq!(
        (check.interval, check.timeout, check.retries),
        (Duration::from_secs(2), Duration::from_secs(5), 3)
    );
    let Probe::Http(target) = check.probe else { panic!("http") };
    assert_eq!(
        (target.host.as_str(), target.path.as_str(), target.addr.port()),
        ("localhost:8080", "/health?deep=1", 8080)
    );
    let p = one("    healthcheck: {tcp: '6379'}\n").expect("a port alone, quoted");
    assert!(matches!(p.healthcheck.expect("a check").probe, Probe::Tcp(ref a) if a.addr.port() == 6379));
    let p = one("    healthcheck: {tcp: 6379}\n").expect("a port alone");
    assert!(
        matches!(p.healthcheck.expect("a check").probe, Probe::Tcp(ref a) if a.addr.to_string() == "127.0.0.1:6379")
    );
}

#[test]
fn probe_mistakes_are_named() {
    let cases = [
        ("    ready: {timeout: 3}\n", "needs one of `tcp`, `http`, `cmd`, `file`, `log`"),
        ("    ready: {tcp: 1.2.3.4:5, cmd: x}\n", "has both `tcp` and `cmd`"),
        ("    ready: {log: 'a(b'}\n", "is not a regular expression"),
        ("    ready: {tcp: localhost}\n", "expected HOST:PORT"),
        ("    ready: {tcp: 'db.example:5432'}\n", "host `db.example`: write its IP address (or localhost)"),
        ("    healthcheck: {http: 'http://api.example/'}\n", "host `api.example`: write its IP address"),
        ("    ready: {tcp: '1.2.3.4:99999'}\n", "is not a port"),
        ("    ready: {cmd: x, timeout: 0}\n", "seconds above 0, at most 86400, found `0`"),
        ("    ready: {cmd: x, timeout: -1}\n", "seconds above 0, at most 86400, found `-1`"),
        ("    healthcheck: {http: '127.0.0.1:80/x'}\n", "write it with http://, like http://127.0.0.1:80/x"),
        ("    ready: true\n", "expected a mapping with one of"),
        ("    healthcheck: {log: x}\n", "unknown key `log`"),
        ("    healthcheck: {http: 'https://x/'}\n", "https is not spoken"),
        ("    healthcheck: {http: 'http://127.0.0.1:0/'}\n", "port 0 is not a port"),
        ("    healthcheck: {cmd: x, retries: 0}\n", "from 1 to 100"),
        ("    priority: high\n", "expected a whole number"),
    ];
    for (body, expected) in cases {
        let e = one(body).expect_err(body);
        assert!(e.contains(expected), "{body}: {e}");
        assert!(e.contains("t.yaml:4:"), "{body}: located: {e}");
    }
}

#[test]
fn order_problems_are_said_with_every_other_one() {
    let text = "  db: {cmd: a, depends_on: cache, numprocs: 0}\n  cache: {cmd: a, depends_on: [web]}\n  \
                web: {cmd: a, depends_on: [cache, nope]}\n";
    let e = programs(text).expect_err("three problems");
    assert!(e.contains("numprocs"), "{e}");
    assert!(e.contains("`nope`, which is not a program"), "{e}");
    assert!(e.contains("is a cycle: cache -> web -> cache"), "{e}");
}
