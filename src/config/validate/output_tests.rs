use super::*;
use crate::config::{LogFile, Output};

fn ctx() -> Context {
    Context::for_tests("/etc/tm")
}

fn program(body: &str) -> Result<ProgramSpec, String> {
    let text = format!("programs:\n  web:\n    cmd: a\n{body}");
    validate(&text, "t.yaml", &ctx())
        .map(|c| c.programs.into_values().next().expect("a program"))
        .map_err(|e| e.to_string())
}

#[test]
fn the_mapping_form_reads_sizes_with_units_and_defaults() {
    let p = program("    stdout:\n      path: web.out\n      maxbytes: 64KB\n      timestamps: true\n")
        .expect("valid");
    let file = LogFile { path: "/etc/tm/web.out".into(), maxbytes: 64_000, backups: 10, timestamps: true };
    assert_eq!(p.stdout, Some(Output::File(file)));
    let p = program("    stderr: {path: /var/log/e, maxbytes: 1GiB, backups: 0}\n").expect("valid");
    let file = LogFile { path: "/var/log/e".into(), maxbytes: 1 << 30, backups: 0, timestamps: false };
    assert_eq!(p.stderr, Some(Output::File(file)));
}

#[test]
fn syslog_and_stderr_to_stdout_are_words_of_their_own() {
    let p = program("    stdout: syslog\n    stderr: stdout\n").expect("valid");
    assert_eq!((p.stdout, p.stderr), (Some(Output::Syslog), Some(Output::Stdout)));
    let p = program("    stdout: SysLog\n    stderr: STDOUT\n").expect("any case");
    assert_eq!((p.stdout, p.stderr), (Some(Output::Syslog), Some(Output::Stdout)));
    let p = program("    stdout: ./stdout\n").expect("a file of that name");
    assert_eq!(p.stdout, Some(Output::File(LogFile::plain("/etc/tm/stdout".into()))));
    let p = program("    tty: true\n    stderr: stdout\n").expect("what a terminal does anyway");
    assert_eq!(p.stderr, Some(Output::Stdout));
}

#[test]
fn mistakes_name_the_key_and_its_place() {
    let cases = [
        ("    stdout: stdout\n", "t.yaml:4:5", "`stdout` is not a destination"),
        ("    stdout: stderr\n", "t.yaml:4:5", "`stderr: stdout`"),
        ("    stdout: {maxbytes: 1MB}\n", "t.yaml:4:5", "needs `path`"),
        ("    stdout:\n      path: o\n      maxbytes: lots\n", "t.yaml:6:7", "number of bytes"),
        ("    stdout:\n      path: o\n      backups: -1\n", "t.yaml:6:7", "from 0 to 1000"),
        ("    stdout:\n      path: o\n      timestamp: true\n", "t.yaml:6:7", "did you mean `timestamps`"),
        ("    stderr: [a]\n", "t.yaml:4:5", "`stdout`, or a mapping with `path`"),
        ("    redirect_stderr: true\n", "t.yaml:4:5", "`stderr: stdout`"),
        ("    stdout_logfile_maxbytes: 1MB\n", "t.yaml:4:5", "`stdout: {path: FILE, maxbytes: 50MB}`"),
        ("    maxbytes: 1MB\n", "t.yaml:4:5", "it goes under stdout or stderr"),
    ];
    for (body, place, words) in cases {
        let error = program(body).expect_err(body);
        assert!(error.contains(place) && error.contains(words), "{body}: {error}");
    }
}

#[test]
fn the_main_log_rotates_when_asked() {
    let text = "taskmaster:\n  logfile_maxbytes: 10MB\n  logfile_backups: 3\nprograms:\n  a: {cmd: a}\n";
    let daemon = validate(text, "t.yaml", &ctx()).expect("valid").daemon;
    assert_eq!((daemon.logfile_maxbytes, daemon.logfile_backups), (10_000_000, 3));
    let daemon = validate("programs:\n  a: {cmd: a}\n", "t.yaml", &ctx()).expect("valid").daemon;
    assert_eq!((daemon.logfile_maxbytes, daemon.logfile_backups), (0, 10), "never, unless asked");
}

#[test]
fn check_prints_the_scalar_form_when_it_says_everything() {
    let text = "programs:\n  a:\n    cmd: a\n    stdout: {path: /o, timestamps: true}\n    stderr: stdout\n";
    let shown = crate::config::render(&validate(text, "t.yaml", &ctx()).expect("valid"));
    assert!(
        shown.contains(
            "stdout:\n      path: /o\n      maxbytes: 0\n      backups: 10\n      timestamps: true"
        ),
        "{shown}"
    );
    assert!(shown.contains("stderr: stdout"), "{shown}");
    let again = validate(&shown, "t.yaml", &ctx()).expect("the printed form is valid");
    assert_eq!(
        again.programs["a"].stdout,
        validate(text, "t.yaml", &ctx()).expect("valid").programs["a"].stdout
    );
}

#[test]
fn streams_sharing_a_file_agree_on_its_rotation() {
    let text = "programs:\n  a:\n    cmd: a\n    stdout: {path: /l/x.log, maxbytes: 1KB, backups: 2}\n    stderr: /l/x.log\n";
    let error = validate(text, "t.yaml", &ctx()).expect_err("two rotations of one file").to_string();
    assert!(error.contains("t.yaml:5:5") && error.contains("like the stdout of program 'a'"), "{error}");
    let text = "programs:\n  a:\n    cmd: a\n    stdout: {path: /l/x.log, maxbytes: 1KB}\n  b:\n    cmd: b\n    stdout: {path: /l/x.log, maxbytes: 1KB, timestamps: true}\n    stderr: stdout\n";
    assert!(validate(text, "t.yaml", &ctx()).is_ok(), "the same rotation, each its own stamps");
}

#[test]
fn programs_sharing_a_file_run_as_one_user() {
    let text = "programs:\n  a:\n    cmd: a\n    user: alice\n    stdout: /l/x.log\n  b:\n    cmd: b\n    stdout: /l/x.log\n";
    let error = validate(text, "t.yaml", &ctx()).expect_err("two users for one file").to_string();
    assert!(error.contains("t.yaml:8:5") && error.contains("where 'a' runs as user 'alice'"), "{error}");
}

#[test]
fn a_program_does_not_write_the_main_log() {
    let text = "taskmaster:\n  logfile: /l/tm.log\nprograms:\n  a:\n    cmd: a\n    stderr: /l/tm.log\n";
    let error = validate(text, "t.yaml", &ctx()).expect_err("the main log").to_string();
    assert!(error.contains("t.yaml:6:5") && error.contains("taskmaster's own log"), "{error}");
}
