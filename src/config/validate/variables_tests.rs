//! `${NAME}` in a program's values and the taskmaster section (taskmaster(1), VARIABLES), with
//! the environment of `tests::ctx`: HOME=/home/ann, PORT=8080, USER=ann.

use super::tests::{assert_error, ok, one};
use crate::config::{Output, render};

#[test]
fn values_take_taskmasters_environment_and_the_programs_env() {
    let a = one("programs:\n  a:\n    cmd: server --port ${PORT} --user=${USER} --db ${DB}\n    \
                 env: {DB: 'db.${USER}', PATH: '/opt/a:${PATH:-/bin}', WHO: '${TASKMASTER_PROGRAM}'}\n    \
                 workingdir: ${HOME}/a\n    stdout: ${HOME}/log/${TASKMASTER_PROGRAM}.log\n");
    assert_eq!(a.cmd.argv, ["server", "--port", "8080", "--user=ann", "--db", "db.ann"]);
    assert_eq!(a.env["DB"], "db.ann");
    assert_eq!(a.env["PATH"], "/opt/a:/bin", "its own name is the value from before it");
    assert_eq!(a.env["WHO"], "a");
    assert_eq!(a.workingdir.as_deref(), Some(std::path::Path::new("/home/ann/a")));
    assert!(matches!(&a.stdout, Some(Output::File(f)) if f.path.ends_with("/home/ann/log/a.log")));
    assert!(a.per_process.is_none(), "nothing differs between processes");
}

#[test]
fn env_values_see_only_what_is_set_before_them() {
    let a = one("programs:\n  a:\n    cmd: a\n    env:\n      ROOT: /srv\n      DATA: ${ROOT}/data\n");
    assert_eq!(a.env["DATA"], "/srv/data");
    assert_error(
        "programs:\n  a:\n    cmd: a\n    env:\n      DATA: ${ROOT}/data\n      ROOT: /srv\n",
        &["t.yaml:5:7: program 'a': env: `${ROOT}` is set below this value in env"],
    );
}

#[test]
fn a_dollar_is_written_twice_and_a_lone_one_is_kept() {
    let a = one("programs:\n  a:\n    cmd: sh -c 'echo $$$$ $HOME $${PORT}'\n    env: {PRICE: '5$$'}\n");
    assert_eq!(a.cmd.argv, ["sh", "-c", "echo $$ $HOME ${PORT}"]);
    assert_eq!(a.env["PRICE"], "5$");
}

#[test]
fn an_unknown_variable_is_an_error_where_it_is_written() {
    assert_error(
        "programs:\n  a:\n    cmd: server --port ${PORTT}\n",
        &["t.yaml:3:5: program 'a': cmd: `${PORTT}` is not set", "did you mean `PORT`?"],
    );
    assert_error("programs:\n  a:\n    cmd: a ${PORT\n", &["t.yaml:3:5", "cmd: `${` is not closed"]);
    assert_error("programs:\n  a:\n    cmd: a\n    workingdir: /srv/${1}\n", &["t.yaml:4:5", "workingdir:"]);
    assert_error(
        "programs:\n  a:\n    cmd: a\n    env_file: /etc/${TASKMASTER_PROCESS_NUM}.env\n",
        &["t.yaml:4:5", "env_file: `${TASKMASTER_PROCESS_NUM}` differs from one process"],
    );
    assert_error(
        "taskmaster:\n  socket: ${NOPE}/tm.sock\nprograms:\n  a: {cmd: a}\n",
        &["t.yaml:2:3", "socket: `${NOPE}` is not set in taskmaster's environment"],
    );
    assert_error(
        "taskmaster:\n  include: ${TASKMASTER_PROCESS_NUM}.yaml\nprograms:\n  a: {cmd: a}\n",
        &["t.yaml:2:3", "include: `${TASKMASTER_PROCESS_NUM}` is a process's"],
    );
    // A value that is not expanded keeps its dollars.
    let a = one("programs:\n  a:\n    cmd: a\n    ready: {log: 'up$'}\n");
    assert!(format!("{:?}", a.ready).contains("up$"));
}

#[test]
fn the_taskmaster_section_takes_taskmasters_environment() {
    let config = ok(
        "taskmaster:\n  socket: ${HOME}/tm.sock\n  logfile: /var/log/${USER}.log\nprograms:\n  a: {cmd: a}\n",
    );
    assert_eq!(config.daemon.socket, std::path::Path::new("/home/ann/tm.sock"));
    assert_eq!(config.daemon.logfile.as_deref(), Some(std::path::Path::new("/var/log/ann.log")));
}

const PER_PROCESS: &str = "programs:\n  web:\n    cmd: server --port 80${TASKMASTER_PROCESS_NUM}\n    \
    numprocs: 3\n    env: {ME: '${TASKMASTER_PROCESS_NAME}', URL: 'http://localhost:80${TASKMASTER_PROCESS_NUM}/'}\n    \
    workingdir: /srv/${TASKMASTER_PROCESS_NUM}\n    stdout: logs/${TASKMASTER_PROCESS_NAME}.log\n    stderr: /var/log/web.err\n";

#[test]
fn each_process_gets_its_own_number_and_name() {
    let web = one(PER_PROCESS);
    // The spec holds the first process's values.
    assert_eq!(web.cmd.argv, ["server", "--port", "800"]);
    assert_eq!(web.env["ME"], "web:web_00");
    let third = web.for_process(2).expect("it differs");
    assert_eq!(third.cmd.argv, ["server", "--port", "802"]);
    assert_eq!(third.env["ME"], "web:web_02");
    assert_eq!(third.env["URL"], "http://localhost:802/");
    assert_eq!(third.workingdir.as_deref(), Some(std::path::Path::new("/srv/2")));
    assert!(
        matches!(&third.stdout, Some(Output::File(f)) if f.path == std::path::Path::new("/etc/tm/logs/web:web_02.log"))
    );
    assert!(
        matches!(&third.stderr, Some(Output::File(f)) if f.path == std::path::Path::new("/var/log/web.err"))
    );
    let outputs = web.outputs();
    assert_eq!(outputs.len(), 3);
    let alone = one("programs:\n  one:\n    cmd: s --name ${TASKMASTER_PROCESS_NAME}\n");
    assert_eq!(alone.cmd.argv, ["s", "--name", "one"]);
}

#[test]
fn check_prints_what_reads_back_the_same() {
    let first = ok(PER_PROCESS);
    let shown = render(&first);
    assert!(shown.contains("cmd: server --port 80${TASKMASTER_PROCESS_NUM}"), "{shown}");
    assert!(shown.contains("ME: ${TASKMASTER_PROCESS_NAME}"), "{shown}");
    let again = ok(&shown);
    assert_eq!(again.programs["web"].per_process, first.programs["web"].per_process);
    assert_eq!(render(&again), shown);
    let dollars = ok("programs:\n  a:\n    cmd: sh -c 'echo $$$$ $HOME'\n    env: {PRICE: '5$$'}\n");
    let shown = render(&dollars);
    assert!(shown.contains("PRICE: 5$$"), "{shown}");
    assert_eq!(ok(&shown).programs["a"].cmd.argv, dollars.programs["a"].cmd.argv);
}

#[test]
fn processes_of_two_programs_may_not_share_a_file_unalike() {
    assert_error(
        "programs:\n  a:\n    cmd: a\n    numprocs: 2\n    stdout: /l/${TASKMASTER_PROCESS_NUM}.log\n  \
         b:\n    cmd: b\n    stdout: {path: /l/1.log, maxbytes: 1MB}\n",
        &["program 'b': stdout: writes /l/1.log like the stdout of program 'a', but rotated otherwise"],
    );
}

#[test]
fn each_process_is_probed_at_its_own_address() {
    let web =
        one("programs:\n  web:\n    cmd: server --port 80${TASKMASTER_PROCESS_NUM}\n    numprocs: 2\n    \
         ready: {tcp: '127.0.0.1:80${TASKMASTER_PROCESS_NUM}'}\n    \
         healthcheck: {http: 'http://127.0.0.1:80${TASKMASTER_PROCESS_NUM}/health', interval: 5}\n");
    let second = web.for_process(1).expect("it differs");
    let ready = second.ready.expect("ready").probe;
    assert_eq!(ready.target(), "127.0.0.1:801");
    assert_eq!(second.healthcheck.expect("healthcheck").probe.target(), "http://127.0.0.1:801/health");
    assert_eq!(web.ready.expect("ready").probe.target(), "127.0.0.1:800");
    let shown = render(&ok(
        "programs:\n  web:\n    cmd: s\n    numprocs: 2\n    ready: {file: 'run/${TASKMASTER_PROCESS_NUM}.up', timeout: 3}\n",
    ));
    assert!(shown.contains("file: /etc/tm/run/${TASKMASTER_PROCESS_NUM}.up"), "{shown}");
}

#[test]
fn a_broken_line_once_filled_in_keeps_its_values_to_itself() {
    let lines =
        super::tests::errors("programs:\n  a:\n    cmd: \"login ${SECRET}\"\n    env: {SECRET: \"pa'ss\"}\n");
    assert_eq!(
        lines,
        ["t.yaml:3:5: program 'a': cmd: has an unterminated quote once its variables are filled in"]
    );
}

#[test]
fn a_program_moved_to_another_folder_with_the_same_values_is_unchanged() {
    use crate::config::diff::{Change, change};
    let text = "programs:\n  q: {cmd: 'sleep 10${TASKMASTER_PROCESS_NUM}', numprocs: 2}\n";
    let here = crate::config::validate(text, "t.yaml", &super::tests::ctx()).expect("valid");
    let ctx = crate::config::Context { config_dir: "/elsewhere".into(), ..super::tests::ctx() };
    let there = crate::config::validate(text, "t.yaml", &ctx).expect("valid");
    assert_eq!(change(&here.programs["q"], &there.programs["q"]), Change::Unchanged);
}

#[test]
fn a_per_process_folder_carries_what_is_relative_to_it() {
    let h = one(
        "programs:\n  h:\n    cmd: ./run x\n    numprocs: 2\n    workingdir: '/my dir/w${TASKMASTER_PROCESS_NUM}'\n    \
         ready: {file: up.flag}\n",
    );
    let second = h.for_process(1).expect("per process");
    assert_eq!(second.cmd.argv, ["/my dir/w1/run", "x"]);
    assert_eq!(second.ready.expect("ready").probe.target(), "/my dir/w1/up.flag");
    assert_eq!(h.cmd.argv, ["/my dir/w0/run", "x"]);
    let again = ok(&render(&ok(
        "programs:\n  h:\n    cmd: ./run x\n    numprocs: 2\n    workingdir: '/my dir/w${TASKMASTER_PROCESS_NUM}'\n",
    )));
    assert_eq!(again.programs["h"].for_process(1).expect("per process").cmd.argv, ["/my dir/w1/run", "x"]);
}

#[test]
fn each_process_probe_target_must_read() {
    assert_error(
        "programs:\n  web:\n    cmd: s\n    numprocs: 7\n    ready: {tcp: '127.0.0.1:6553${TASKMASTER_PROCESS_NUM}'}\n",
        &[
            "t.yaml:5:5: program 'web': ready: for web:web_06 it is `127.0.0.1:65536`, which is not a tcp target",
        ],
    );
}

#[test]
fn a_per_process_check_changed_applies_in_place() {
    use crate::config::diff::{Change, change};
    let yaml = |host: &str| {
        format!(
            "programs:\n  k:\n    cmd: s\n    numprocs: 2\n    healthcheck: {{tcp: '{host}:80${{TASKMASTER_PROCESS_NUM}}'}}\n"
        )
    };
    let (before, after) = (one(&yaml("127.0.0.1")), one(&yaml("localhost")));
    assert_eq!(change(&before, &after), Change::Retune);
}

#[test]
fn no_process_writes_the_main_log() {
    assert_error(
        "taskmaster: {logfile: /l/w-1.log}\nprograms:\n  w:\n    cmd: s\n    numprocs: 2\n    \
         stdout: /l/w-${TASKMASTER_PROCESS_NUM}.log\n",
        &["program 'w': stdout: writes /l/w-1.log, taskmaster's own log"],
    );
}

#[test]
fn a_client_reads_the_socket_whatever_the_daemon_includes() {
    let text = "taskmaster:\n  socket: /run/tm.sock\n  include: ${CONFD}/*.yaml\nprograms:\n  a: {cmd: a}\n";
    let daemon = crate::config::validate_daemon(text, "t.yaml", &super::tests::ctx()).expect("the socket");
    assert_eq!(daemon.socket, std::path::Path::new("/run/tm.sock"));
}
