use super::*;
use crate::config::render;
use crate::config::spec::{Mode, RestartPolicy};
use nix::sys::signal::Signal;
use std::time::Duration;

pub(super) fn ctx() -> Context {
    Context {
        config_dir: PathBuf::from("/etc/tm"),
        home: Some(PathBuf::from("/home/ann")),
        runtime_dir: Some(PathBuf::from("/run/user/1000")),
        uid: 1000,
        accounts: crate::config::accounts::tests::table(),
        purpose: crate::config::Purpose::Run,
        // Hard limits of a user's session: 4096 files, the rest unlimited.
        hard_limit: |l| match l {
            crate::config::rlimits::Limit::Nofile => 4096,
            _ => crate::config::rlimits::UNLIMITED,
        },
        environment: [("HOME", "/home/ann"), ("PORT", "8080"), ("USER", "ann")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A plain output file.
fn file(path: &str) -> Option<crate::config::Output> {
    Some(crate::config::Output::File(crate::config::LogFile::plain(PathBuf::from(path))))
}

pub(super) fn ok(text: &str) -> Config {
    validate(text, "t.yaml", &ctx()).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn one(text: &str) -> ProgramSpec {
    ok(text).programs.into_values().next().expect("a program")
}

/// The problems as printed, one line each.
pub(super) fn errors(text: &str) -> Vec<String> {
    validate(text, "t.yaml", &ctx()).expect_err("should be invalid").lines()
}

pub(super) fn assert_error(text: &str, wanted: &[&str]) {
    let lines = errors(text);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    for w in wanted {
        assert!(lines[0].contains(w), "`{}` lacks `{w}`", lines[0]);
    }
}

const SUBJECT: &str = include_str!("../../../conf/subject.yaml");

#[test]
fn the_subject_example_reads_as_users_mean_it() {
    let config = ok(SUBJECT);
    let nginx = &config.programs["nginx"];
    let vogsphere = &config.programs["vogsphere"];
    assert_eq!(nginx.umask, Some(Mode(0o22)));
    assert_eq!(vogsphere.umask, Some(Mode(0o77)));
    assert_eq!(nginx.exitcodes, [0, 2]);
    assert_eq!(vogsphere.exitcodes, [0]);
    assert_eq!(nginx.env["ANSWER"], "42");
    assert_eq!(nginx.env["STARTED_BY"], "taskmaster");
    assert_eq!(vogsphere.stopsignal, Signal::SIGUSR1);
    assert_eq!(vogsphere.numprocs, 8);
    assert_eq!(nginx.starttime, Duration::from_secs(5));
    assert_eq!(nginx.autorestart, RestartPolicy::Unexpected);
    assert_eq!(nginx.stdout, file("/tmp/nginx.stdout"));
}

#[test]
fn a_minimal_program_gets_every_default() {
    let p = one("programs:\n  app:\n    cmd: /bin/app --flag 'two words'\n");
    assert_eq!(p.cmd.argv, ["/bin/app", "--flag", "two words"]);
    assert_eq!(p.numprocs, 1);
    assert_eq!(p.umask, None);
    assert_eq!(p.workingdir, None);
    assert!(p.autostart);
    assert_eq!(p.autorestart, RestartPolicy::Unexpected);
    assert_eq!(p.exitcodes, [0]);
    assert_eq!(p.startretries, 3);
    assert_eq!(p.starttime, Duration::from_secs(1));
    assert_eq!(p.stopsignal, Signal::SIGTERM);
    assert_eq!(p.stoptime, Duration::from_secs(10));
    assert!(!p.stopasgroup);
    assert_eq!((p.stdout, p.stderr), (None, None));
    assert!(p.env.is_empty());
}

#[test]
fn the_daemon_section_has_defaults() {
    let d = ok("programs:\n  app:\n    cmd: app\n").daemon;
    assert_eq!(d.logfile, Some(PathBuf::from("/etc/tm/taskmaster.log")));
    assert_eq!(d.loglevel, LogLevel::Info);
    assert_eq!(d.socket, PathBuf::from("/run/user/1000/taskmaster.sock"));
    assert_eq!(d.socket_mode, Mode(0o600));
    assert_eq!(d.history, Some(PathBuf::from("/home/ann/.taskmaster_history")));
    let no_runtime = Context { runtime_dir: None, ..ctx() };
    let d = validate("programs: {a: {cmd: a}}", "t", &no_runtime).expect("valid").daemon;
    assert_eq!(d.socket, PathBuf::from("/tmp/taskmaster-1000/taskmaster.sock"));
}

#[test]
fn the_daemon_section_reads_every_key() {
    let d = ok("taskmaster:\n  logfile: log/tm.log\n  loglevel: DEBUG\n  socket: tm.sock\n  \
                socket_mode: 0660\n  history: null\nprograms:\n  a:\n    cmd: a\n")
    .daemon;
    assert_eq!(d.logfile, Some(PathBuf::from("/etc/tm/log/tm.log")));
    assert_eq!(d.loglevel, LogLevel::Debug);
    assert_eq!(d.socket, PathBuf::from("/etc/tm/tm.sock"));
    assert_eq!(d.socket_mode, Mode(0o660));
    assert_eq!(d.history, None);
    let d = ok("taskmaster: {logfile: null}\nprograms: {a: {cmd: a}}").daemon;
    assert_eq!(d.logfile, None);
}

#[test]
fn every_program_key_is_read() {
    let p = one("programs:
  app:
    cmd: run.sh -v
    numprocs: 4
    umask: 0o27
    workingdir: ~/srv
    autostart: false
    autorestart: true
    exitcodes: 3
    startretries: 0
    starttime: 0.5
    stopsignal: sigquit
    stoptime: 2
    stopasgroup: true
    stdout: out.log
    stderr: /var/log/err.log
    env: {A: 1.10, B: yes, C: true, D: ~, E: 'quoted text'}
");
    assert_eq!(p.cmd.argv, ["run.sh", "-v"], "a bare name is left for PATH lookup");
    assert_eq!(p.numprocs, 4);
    assert_eq!(p.umask, Some(Mode(0o27)));
    assert_eq!(p.workingdir, Some(PathBuf::from("/home/ann/srv")));
    assert!(!p.autostart);
    assert_eq!(p.autorestart, RestartPolicy::Always);
    assert_eq!(p.exitcodes, [3]);
    assert_eq!(p.startretries, 0);
    assert_eq!(p.starttime, Duration::from_millis(500));
    assert_eq!(p.stopsignal, Signal::SIGQUIT);
    assert_eq!(p.stoptime, Duration::from_secs(2));
    assert!(p.stopasgroup);
    assert_eq!(p.stdout, file("/etc/tm/out.log"));
    assert_eq!(p.stderr, file("/var/log/err.log"));
    let env: Vec<_> = p.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(env, ["A=1.10", "B=yes", "C=true", "D=", "E=quoted text"]);
    assert_eq!(p.process_names(), ["app:app_00", "app:app_01", "app:app_02", "app:app_03"]);
}

#[test]
fn umask_is_octal_in_every_spelling() {
    for (written, bits) in
        [("022", 0o22), ("0022", 0o22), ("\"022\"", 0o22), ("0o22", 0o22), ("22", 0o22), ("0", 0)]
    {
        let p = one(&format!("programs:\n  a:\n    cmd: a\n    umask: {written}\n"));
        assert_eq!(p.umask, Some(Mode(bits)), "umask: {written}");
    }
    let p = one("programs: {a: {cmd: a, umask: 0o77}}");
    assert_eq!(p.umask, Some(Mode(0o77)), "flow style keeps the written text too");
}

#[test]
fn a_relative_program_path_is_found_from_the_working_directory() {
    let p = one("programs:\n  a:\n    cmd: ./bin/run --x\n");
    assert_eq!(p.cmd.argv[0], "/etc/tm/bin/run");
    let p = one("programs:\n  a:\n    cmd: ./run\n    workingdir: /srv\n");
    assert_eq!(p.cmd.argv[0], "/srv/run");
    assert_eq!(p.cmd.text, "./run", "the command is shown as written");
}

#[test]
fn unknown_keys_suggest_the_nearest_one() {
    assert_error(
        "programs:\n  a:\n    cmd: a\n    stoptim: 3\n",
        &["t.yaml:4:5", "unknown key `stoptim`", "did you mean `stoptime`?"],
    );
    assert_error("programs:\n  a:\n    cmd: a\n    stopwaitsecs: 3\n", &["calls it `stoptime`"]);
    assert_error("programs: {a: {cmd: a}}\nprogram: {}\n", &["unknown key `program`", "`programs`"]);
    assert_error(
        "taskmaster:\n  log_file: x\nprograms: {a: {cmd: a}}\n",
        &["t.yaml:2:3", "taskmaster", "`logfile`"],
    );
}

#[test]
fn each_wrong_value_names_the_program_key_and_expectation() {
    let cases: &[(&str, &str, &str)] = &[
        ("numprocs: 0", "numprocs", "from 1 to 1000"),
        ("numprocs: 1001", "numprocs", "from 1 to 1000"),
        ("umask: 089", "umask", "octal"),
        ("umask: 01000", "umask", "0777"),
        ("autostart: yes", "autostart", "true or false"),
        ("autorestart: maybe", "autorestart", "always, never or unexpected"),
        ("exitcodes: [0, 256]", "exitcodes", "0 to 255"),
        ("exitcodes: '0,2'", "exitcodes", "[0, 2]"),
        ("startretries: -1", "startretries", "from 0 to 1000"),
        ("starttime: -1", "starttime", "seconds"),
        ("stoptime: ten", "stoptime", "seconds"),
        ("stopsignal: KILL", "stopsignal", "stoptime"),
        ("stopsignal: SIGSTOP", "stopsignal", "pauses"),
        ("stopsignal: BOGUS", "stopsignal", "not a signal"),
        ("stopasgroup: 1", "stopasgroup", "true or false"),
        ("stdout: 42", "stdout", "a path"),
        ("workingdir: ''", "workingdir", "empty"),
        ("env: [A, B]", "env", "NAME: value"),
        ("env: {A: [1]}", "env", "A: expected a single value"),
        ("env: {'A=B': x}", "env", "not a valid environment variable name"),
    ];
    for (line, key, expected) in cases {
        let text = format!("programs:\n  web:\n    cmd: a\n    {line}\n");
        assert_error(&text, &["t.yaml:4:", "program 'web'", key, expected]);
    }
}

#[test]
fn commands_must_split_into_something() {
    assert_error("programs:\n  a:\n    cmd: \"x 'open\"\n", &["t.yaml:3:5", "unterminated quote"]);
    assert_error("programs:\n  a:\n    cmd: \"''\"\n", &["cmd", "empty"]);
    assert_error("programs:\n  a:\n    cmd: '   '\n", &["cmd", "empty"]);
    assert_error("programs:\n  a:\n    numprocs: 2\n", &["t.yaml:2:3", "cmd: is missing"]);
    assert_error("programs:\n  a:\n    cmd: 12\n", &["cmd", "command line"]);
}

#[test]
fn program_names_follow_the_rules() {
    assert_error("programs:\n  'a:b': {cmd: a}\n", &["t.yaml:2:3", "`:` is not allowed"]);
    assert_error("programs:\n  'a b': {cmd: a}\n", &["` ` is not allowed"]);
    assert_error("programs:\n  all: {cmd: a}\n", &["reserved"]);
    assert_error("programs:\n  -x: {cmd: a}\n", &["option"]);
    assert_error(
        "programs:\n  a: {cmd: a}\n  b: {cmd: b}\n  a: {cmd: c}\n",
        &["t.yaml:4:3", "defined twice"],
    );
    assert_eq!(ok("programs: {web-1.x_y: {cmd: a}}").programs.len(), 1);
}

#[test]
fn the_file_as_a_whole_must_make_sense() {
    assert_error("", &["empty"]);
    assert_error("- a\n- b\n", &["mapping"]);
    assert_error("taskmaster: {}\n", &["no `programs:`"]);
    assert_error("programs: {}\n", &["programs", "at least one program"]);
    assert_error("programs:\n", &["programs", "at least one program"]);
    assert_error("programs: [a]\n", &["mapping of program names"]);
    assert_error("programs:\n  a: /bin/true\n", &["program 'a'", "`cmd`"]);
    assert_error("programs:\n  a:\n    cmd: x\n    cmd: y\n", &["t.yaml:4:5", "cmd: appears twice"]);
    assert_error("a: [1\n", &["t.yaml:2:1", "did not find expected"]);
    assert_error("a: b: c\n", &["t.yaml:1:5"]);
}

#[test]
fn a_socket_path_must_fit_in_a_socket_address() {
    let long = format!("/tmp/{}.sock", "x".repeat(110));
    assert_error(
        &format!("taskmaster:\n  socket: {long}\nprograms: {{a: {{cmd: a}}}}\n"),
        &["t.yaml:2:3", "107"],
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let lines = errors(include_str!("../../../conf/broken.yaml"));
    assert_eq!(lines.len(), 14, "{lines:#?}");
    let numbers: Vec<usize> = lines
        .iter()
        .map(|l| l.split(':').nth(1).and_then(|n| n.parse().ok()).expect("a line number"))
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{numbers:?}");
}

#[test]
fn the_rendered_config_is_valid_and_a_fixed_point() {
    for text in [SUBJECT, include_str!("../../../conf/taskmaster.yaml")] {
        let first = ok(text);
        let rendered = render(&first);
        let second = ok(&rendered);
        assert_eq!(first.programs.len(), second.programs.len());
        for (a, b) in first.programs.values().zip(second.programs.values()) {
            assert_eq!(
                (a.umask, &a.env, &a.exitcodes, a.stopsignal),
                (b.umask, &b.env, &b.exitcodes, b.stopsignal)
            );
            assert_eq!(
                (a.starttime, a.stoptime, &a.stdout, &a.workingdir),
                (b.starttime, b.stoptime, &b.stdout, &b.workingdir)
            );
        }
        assert_eq!(render(&second), rendered);
    }
}

#[test]
fn rendering_uses_canonical_forms() {
    let text = render(&ok("programs:\n  a:\n    cmd: a\n    umask: 22\n    autorestart: false\n    \
                          stopsignal: 10\n    exitcodes: 2\n    env: {N: 42}\n"));
    for wanted in [
        "umask: '0022'",
        "autorestart: never",
        "stopsignal: USR1",
        "exitcodes:\n    - 2",
        "N: '42'",
        "stdout: null",
    ] {
        assert!(text.contains(wanted), "`{wanted}` missing from\n{text}");
    }
}

#[test]
fn a_nul_byte_in_the_command_is_refused_where_it_is_written() {
    assert_error("programs:\n  a:\n    cmd: \"sleep\\01\"\n", &["t.yaml:3:5", "cmd", "NUL"]);
}

#[test]
fn thousands_of_env_keys_are_read_and_kept() {
    let mut text = String::from("programs:\n  a:\n    cmd: a\n    env:\n");
    for i in 0..20_000 {
        text.push_str(&format!("      K{i}: {i}\n"));
    }
    let env = one(&text).env;
    assert_eq!(env.len(), 20_000);
    assert_eq!(env["K19999"], "19999");
}

#[test]
fn a_deeply_nested_file_is_refused_before_it_is_parsed() {
    let deep = format!(
        "programs:\n  a:\n    cmd: a\n    env: {{A: {}{}}}\n",
        "[".repeat(60_000),
        "]".repeat(60_000)
    );
    assert_error(&deep, &["t.yaml:4:", "nested more than 64 levels deep"]);
    let dashes = format!("programs:\n  a:\n    cmd: a\n    env:\n      A:\n        {}x\n", "- ".repeat(100));
    assert_error(&dashes, &["t.yaml:6:9", "nested more than 64 levels deep"]);
    let shallow = one("programs:\n  a: {cmd: a, exitcodes: [0, 1], env: {A: '[x]'}}\n");
    assert_eq!(shallow.env["A"], "[x]", "shallow nesting reads as before");
}

#[test]
fn a_terminal_program_has_one_stream_and_the_detach_key_is_a_control_key() {
    let spec = one("programs:\n  py:\n    cmd: python3 -q\n    tty: true\n    stdout: py.log\n");
    assert!(spec.tty);
    assert!(!one("programs:\n  a:\n    cmd: a\n").tty, "off unless asked");
    assert_error(
        "programs:\n  py:\n    cmd: python3 -q\n    tty: true\n    stderr: py.err\n",
        &["t.yaml:5:5", "stderr", "one terminal for both streams"],
    );
    let key = |text: &str| {
        ok(&format!("taskmaster:\n  detach_key: {text}\nprograms:\n  a: {{cmd: a}}\n")).daemon.detach_key
    };
    assert_eq!(ok("programs:\n  a: {cmd: a}\n").daemon.detach_key, DetachKey(0x1d), "ctrl-] unless told");
    assert_eq!(key("ctrl-a"), DetachKey(1));
    assert_eq!(key("Ctrl-Q"), DetachKey(17));
    assert_eq!(key("'^\\'"), DetachKey(0x1c));
    assert_eq!(key("ctrl-_").to_string(), "ctrl-_");
    assert_eq!(key("ctrl-]").to_string(), "ctrl-]");
    for (bad, why) in [("ctrl-[", "it is Escape"), ("ctrl-m", "it is Enter"), ("ctrl-i", "it is Tab")] {
        assert_error(
            &format!("taskmaster:\n  detach_key: {bad}\nprograms:\n  a: {{cmd: a}}\n"),
            &["detach_key", "cannot leave an attach", why],
        );
    }
    for bad in ["x", "ctrl-1", "ctrl-ab", "12", "alt-x"] {
        assert_error(
            &format!("taskmaster:\n  detach_key: {bad}\nprograms:\n  a: {{cmd: a}}\n"),
            &["detach_key", "a control key such as ctrl-]"],
        );
    }
}

#[test]
fn backoff_reads_base_and_max_and_refuses_what_cannot_grow() {
    use crate::config::Backoff;
    let default = one("programs:\n  a: {cmd: a}\n");
    assert_eq!(default.backoff, Backoff::default());
    let set = one("programs:\n  a: {cmd: a, backoff: {base: 0.5, max: 30}}\n");
    assert_eq!(set.backoff, Backoff { base: Duration::from_millis(500), max: Some(Duration::from_secs(30)) });
    let base_only = one("programs:\n  a: {cmd: a, backoff: {base: 2, max: null}}\n");
    assert_eq!(base_only.backoff, Backoff { base: Duration::from_secs(2), max: None });
    assert_error(
        "programs:\n  a: {cmd: a, backoff: {base: 5, max: 2}}\n",
        &["t.yaml:2:", "program 'a': backoff: max: 2 s is below base (5 s): the wait would never grow"],
    );
    assert_error(
        "programs:\n  a: {cmd: a, backoff: {max: 0.5}}\n",
        &["program 'a': backoff: max: 0.5 s is below base (1 s, the default)"],
    );
    assert_error(
        "programs:\n  a: {cmd: a, backoff: {base: 0}}\n",
        &["program 'a': backoff: base:", "above 0"],
    );
    assert_error(
        "programs:\n  a: {cmd: a, backoff: 3}\n",
        &["backoff", "expected a mapping like {base: 1, max: 30}"],
    );
    assert_error("programs:\n  a: {cmd: a, backoff: {bsae: 1}}\n", &["bsae", "base"]);
}

#[test]
fn rlimits_take_ulimit_names_numbers_sizes_and_unlimited() {
    use crate::config::rlimits::{Limit, UNLIMITED};
    let p =
        one("programs:\n  a: {cmd: a, rlimits: {nofile: 1024, core: 0, stack: 8MiB, memlock: unlimited}}\n");
    assert_eq!(p.rlimits[&Limit::Nofile], 1024);
    assert_eq!(p.rlimits[&Limit::Core], 0);
    assert_eq!(p.rlimits[&Limit::Stack], 8 * 1024 * 1024);
    assert_eq!(p.rlimits[&Limit::Memlock], UNLIMITED);
    assert!(one("programs:\n  a: {cmd: a}\n").rlimits.is_empty());
    assert_error("programs:\n  a: {cmd: a, rlimits: {nofiles: 10}}\n", &["nofiles", "did you mean `nofile`"]);
    assert_error("programs:\n  a: {cmd: a, rlimits: {nproc: -1}}\n", &["nproc", "whole number"]);
    assert_error("programs:\n  a: {cmd: a, rlimits: 4096}\n", &["rlimits", "expected a mapping"]);
    assert_error(
        "programs:\n  a: {cmd: a, rlimits: {nofile: 10, nofile: 20}}\n",
        &["rlimits: `nofile` appears twice; keep one"],
    );
    // This taskmaster is not root, and its hard limit of files is 4096.
    assert_error(
        "programs:\n  a: {cmd: a, rlimits: {nofile: 8192}}\n",
        &["t.yaml:2:", "nofile", "8192 is above taskmaster's own hard limit (4096): only root can raise it"],
    );
    let printed = render(&ok("programs:\n  a: {cmd: a, rlimits: {nofile: 1024, memlock: unlimited}}\n"));
    assert!(printed.contains("rlimits:\n      memlock: unlimited\n      nofile: 1024"), "{printed}");
    assert_eq!(
        ok(&printed).programs["a"].rlimits,
        ok("programs:\n  a: {cmd: a, rlimits: {nofile: 1024, memlock: unlimited}}\n").programs["a"].rlimits,
        "--check reads back"
    );
}

#[test]
fn env_file_sets_what_env_does_not() {
    let dir = std::env::temp_dir().join(format!("tm-envfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("web.env");
    std::fs::write(&file, "# web\nDB=db.local\nPORT=\"80\"\n").expect("write");
    let text =
        format!("programs:\n  a:\n    cmd: a\n    env_file: {}\n    env: {{PORT: 8080}}\n", file.display());
    let a = one(&text);
    assert_eq!(a.env["DB"], "db.local");
    assert_eq!(a.env["PORT"], "8080", "env wins");
    assert_eq!(a.env_file.as_ref().map(|f| f.path.as_path()), Some(file.as_path()));
    let shown = crate::config::render(&ok(&text));
    assert!(
        shown.contains("PORT: '8080'") && !shown.contains("db.local"),
        "the file's values stay in it: {shown}"
    );
    // A byte order mark first (an editor on Windows) is not part of the first name.
    std::fs::write(&file, "\u{feff}DB=db.bom\n").expect("write");
    assert_eq!(one(&text).env["DB"], "db.bom");
    std::fs::write(&file, "DB=db.local\noops\n").expect("write");
    assert_error(&text, &["t.yaml:4:", "env_file", "web.env: line 2: expected KEY=VALUE"]);
    std::fs::remove_file(&file).expect("remove");
    assert_error(&text, &["env_file", "web.env", "o such file"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_env_name_written_twice_is_said_at_its_second_place_with_its_own_value() {
    // The same whatever else the file holds: a YAML number elsewhere (the umask) makes the
    // values be read as written, and each copy is still read from its own text.
    for umask in ["", "    umask: 0o22\n"] {
        let twice = format!("programs:\n  a:\n    cmd: a\n{umask}    env:\n      A: x\n      A: 1.10\n");
        let line = if umask.is_empty() { 6 } else { 7 };
        let said = errors(&twice);
        assert_eq!(said.len(), 1, "{said:#?}");
        assert!(said[0].contains(&format!("t.yaml:{line}:7:")), "{said:#?}");
        assert!(said[0].contains("`A` is set twice"), "{said:#?}");
        let nul = format!("programs:\n  a:\n    cmd: a\n{umask}    env:\n      A: x\n      A: \"a\\0b\"\n");
        let said = errors(&nul);
        assert_eq!(said.len(), 1, "{said:#?}");
        assert!(said[0].contains(&format!("t.yaml:{line}:7:")), "{said:#?}");
        assert!(said[0].contains("cannot contain a NUL byte"), "{said:#?}");
    }
}
