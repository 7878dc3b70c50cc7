//! `include:` read from real files in a scratch folder.

use super::{Context, validate};
use crate::config::{Config, ConfigError, render};
use std::path::PathBuf;

/// A folder of its own under the system's temporary one, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tm-include-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).expect("scratch folder");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("write");
    }

    fn load(&self, main: &str) -> Result<Config, ConfigError> {
        validate(main, "main.yaml", &Context::for_tests(&self.0.display().to_string()))
    }

    fn errors(&self, main: &str) -> Vec<String> {
        self.load(main).expect_err("should be invalid").lines()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MAIN: &str = "taskmaster:\n  include: conf.d/*.yaml\nprograms:\n  a: {cmd: a}\n";

#[test]
fn included_programs_join_the_main_files_with_their_origin_and_folder() {
    let s = Scratch::new("join");
    s.write("conf.d/20-c.yaml", "programs:\n  c: {cmd: ./run, stdout: logs/c.log}\n");
    s.write("conf.d/10-b.yaml", "programs:\n  b: {cmd: b}\n");
    s.write("conf.d/.#10-b.yaml", "not: [yaml\n");
    s.write("conf.d/notes.txt", "not a config\n");
    s.write("conf.d/30-empty.yaml", "");
    let config = s.load(MAIN).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.programs.keys().map(String::as_str).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(config.programs["a"].origin, None);
    assert_eq!(config.programs["c"].origin.as_deref(), Some("conf.d/20-c.yaml"));
    let c = &config.programs["c"];
    let here = s.0.join("conf.d");
    assert_eq!(c.cmd.argv[0], here.join("run").display().to_string(), "relative to its own file");
    match &c.stdout {
        Some(crate::config::Output::File(f)) => assert_eq!(f.path, here.join("logs/c.log")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_the_included_file_with_line_and_column() {
    let s = Scratch::new("errors");
    s.write("conf.d/b.yaml", "programs:\n  b:\n    cmd: b\n    numprocs: many\n");
    s.write("conf.d/c.yaml", "programs:\n  c: {cmd: [\n");
    s.write("conf.d/d.yaml", "taskmaster:\n  loglevel: debug\nprograms:\n  d: {cmd: d}\n");
    let lines = s.errors(MAIN);
    assert!(lines[0].starts_with("conf.d/b.yaml:4:5: program 'b': numprocs:"), "{lines:#?}");
    assert!(lines[1].starts_with("conf.d/c.yaml:3:1:"), "{lines:#?}");
    assert!(lines[2].starts_with("conf.d/d.yaml:1:1: taskmaster: belongs in the main file"), "{lines:#?}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
}

#[test]
fn a_program_defined_twice_names_both_places() {
    let s = Scratch::new("twice");
    s.write("conf.d/b.yaml", "programs:\n  x: {cmd: b}\n\n  a: {cmd: other}\n");
    let lines = s.errors(MAIN);
    assert_eq!(
        lines,
        [
            "conf.d/b.yaml:4:3: program 'a': is defined twice (first at main.yaml:4:3); program names must be unique"
        ]
    );
    let s = Scratch::new("twice-here");
    let lines = s.errors("programs:\n  a: {cmd: a}\n  a: {cmd: b}\n");
    assert_eq!(
        lines,
        [
            "main.yaml:3:3: program 'a': is defined twice (first at main.yaml:2:3); program names must be unique"
        ]
    );
}

#[test]
fn what_the_patterns_find_or_miss() {
    let s = Scratch::new("patterns");
    // A pattern that matches nothing adds nothing; a file named outright must be there.
    assert!(s.load(MAIN).is_ok());
    let lines = s.errors("taskmaster:\n  include: [conf.d/*.yaml, extra.yaml]\nprograms:\n  a: {cmd: a}\n");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].starts_with("main.yaml:2:"), "{lines:#?}");
    assert!(lines[0].contains("extra.yaml: No such file or directory"), "{lines:#?}");
    // Programs may all come from included files; none anywhere is an error.
    s.write("conf.d/b.yaml", "programs:\n  b: {cmd: b}\n");
    let only = "taskmaster:\n  include: conf.d/*.yaml\n";
    assert_eq!(s.load(only).expect("valid").programs.len(), 1);
    std::fs::remove_file(s.0.join("conf.d/b.yaml")).expect("remove");
    let lines = s.errors(only);
    assert!(
        lines[0]
            .contains("no `programs:` section: there is nothing to supervise (nor do the files it include")
    );
    // The main file matched by its own pattern is not read twice.
    s.write("main.yaml", MAIN);
    let config = s.load("taskmaster:\n  include: '*.yaml'\nprograms:\n  a: {cmd: a}\n").expect("valid");
    assert_eq!(config.programs.len(), 1);
    let lines = s.errors("taskmaster:\n  include: 'conf.d/[z'\nprograms:\n  a: {cmd: a}\n");
    assert!(lines[0].contains("is not a valid pattern"), "{lines:#?}");
}

#[test]
fn check_prints_one_file_that_says_where_each_program_came_from() {
    let s = Scratch::new("render");
    s.write("conf.d/b.yaml", "programs:\n  b: {cmd: b, numprocs: 2}\n");
    let config = s.load(MAIN).expect("valid");
    let shown = render(&config);
    assert!(shown.contains("  # from conf.d/b.yaml\n  b:\n    cmd: b\n    numprocs: 2\n"), "{shown}");
    assert!(!shown.contains("  include:"), "the programs are in it already: {shown}");
    let again =
        validate(&shown, "again.yaml", &Context::for_tests("/elsewhere")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.programs.keys().collect::<Vec<_>>(), config.programs.keys().collect::<Vec<_>>());
    assert_eq!(
        render(&again).replace("  # from conf.d/b.yaml\n", ""),
        shown.replace("  # from conf.d/b.yaml\n", "")
    );
}

#[test]
fn a_fifo_or_a_device_is_refused_without_waiting() {
    let s = Scratch::new("fifo");
    nix::unistd::mkfifo(&s.0.join("conf.d/f.yaml"), nix::sys::stat::Mode::from_bits_truncate(0o600))
        .expect("mkfifo");
    std::os::unix::fs::symlink("/dev/zero", s.0.join("conf.d/z.yaml")).expect("symlink");
    // A hang would be the bug: SIGALRM ends the test run if the answer does not come.
    nix::unistd::alarm::set(60);
    let r = validate(MAIN, "main.yaml", &Context::for_tests(&s.0.display().to_string()));
    nix::unistd::alarm::cancel();
    let lines = r.map(|_| ()).map_err(|e| e.lines()).expect_err("refused");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].ends_with("conf.d/f.yaml: is not a regular file"), "{lines:#?}");
    assert!(lines[1].ends_with("conf.d/z.yaml: is not a regular file"), "{lines:#?}");
}

#[test]
fn the_main_files_folder_is_matched_as_it_is_named() {
    let s = Scratch::new("brackets");
    let odd = s.0.join("my[1]");
    std::fs::create_dir_all(odd.join("conf.d")).expect("odd folder");
    std::fs::create_dir_all(s.0.join("my1/conf.d")).expect("look-alike folder");
    std::fs::write(odd.join("conf.d/r.yaml"), "programs:\n  right: {cmd: r}\n").expect("write");
    std::fs::write(s.0.join("my1/conf.d/w.yaml"), "programs:\n  wrong: {cmd: w}\n").expect("write");
    let ctx = Context::for_tests(&odd.display().to_string());
    let config = validate(MAIN, "main.yaml", &ctx).expect("valid");
    assert_eq!(config.programs.keys().collect::<Vec<_>>(), ["a", "right"]);
    let lines = validate("taskmaster:\n  include: nope.yaml\nprograms:\n  a: {cmd: a}\n", "main.yaml", &ctx)
        .expect_err("a file named outright")
        .lines();
    assert!(lines[0].ends_with("include: nope.yaml: No such file or directory"), "{lines:#?}");
}

#[test]
fn a_relative_command_of_an_included_file_is_printed_where_it_is() {
    let s = Scratch::new("relative");
    s.write(
        "conf.d/b.yaml",
        "programs:\n  b: {cmd: ./run.sh --x}\n  c: {cmd: './run${TASKMASTER_PROCESS_NUM}.sh', numprocs: 2}\n",
    );
    let config = s.load(MAIN).expect("valid");
    let here = s.0.join("conf.d");
    let shown = render(&config);
    assert!(shown.contains(&format!("cmd: {}/run.sh --x", here.display())), "{shown}");
    let again = validate(&shown, "again.yaml", &Context::for_tests("/elsewhere")).expect("reads back");
    assert_eq!(again.programs["b"].cmd.argv, config.programs["b"].cmd.argv);
    let c = again.programs["c"].for_process(1).expect("per process");
    assert_eq!(c.cmd.argv, [here.join("run1.sh").display().to_string()]);
}

#[test]
fn a_file_name_with_a_newline_stays_in_its_comment() {
    let s = Scratch::new("newline");
    s.write("conf.d/a\n  evil: {cmd: rm}\n#.yaml", "programs:\n  b: {cmd: b}\n");
    let shown = render(&s.load(MAIN).expect("valid"));
    let again = validate(&shown, "again.yaml", &Context::for_tests("/elsewhere")).expect("reads back");
    assert_eq!(again.programs.keys().collect::<Vec<_>>(), ["a", "b"], "{shown}");
}

#[test]
fn values_kept_as_written_are_read_so_in_included_files_too() {
    // The text of a umask or an env value is read again only in a file where YAML typed one:
    // the main file has none here, the included one has both.
    let s = Scratch::new("written");
    s.write("conf.d/b.yaml", "programs:\n  b: {cmd: b, umask: 0o27, env: {RATIO: 1.10, ON: yes, N: 0x1F}}\n");
    let config = s.load(MAIN).unwrap_or_else(|e| panic!("{e}"));
    let b = &config.programs["b"];
    assert_eq!(b.umask, Some(crate::config::spec::Mode(0o27)));
    let env = |k: &str| b.env.get(k).cloned();
    assert_eq!(env("RATIO").as_deref(), Some("1.10"));
    assert_eq!(env("ON").as_deref(), Some("yes"));
    assert_eq!(env("N").as_deref(), Some("0x1F"));
}
