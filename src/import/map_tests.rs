use super::*;
use std::path::PathBuf;

/// The files as `(shown, folder, text)`, read in order as an `[include]` would.
fn import_all(files: &[(&str, &str, &str)]) -> Imported {
    let mut ini = Ini::default();
    let mut read = Vec::new();
    for (n, (shown, dir, text)) in files.iter().enumerate() {
        ini.read(text, n).expect("ini");
        read.push(File { shown: shown.to_string(), dir: dir.to_string() });
    }
    map(&ini, &read, "box")
}

fn import(text: &str) -> Imported {
    import_all(&[("s.conf", "/etc/sv", text)])
}

/// The YAML as taskmaster reads it: it must load.
fn load(yaml: &str) -> crate::config::Config {
    let ctx = crate::config::Context {
        config_dir: PathBuf::from("/etc/sv"),
        home: Some(PathBuf::from("/home/ann")),
        runtime_dir: Some(PathBuf::from("/run/user/1000")),
        uid: 1000,
        accounts: crate::config::accounts::tests::table(),
        purpose: crate::config::Purpose::Run,
        hard_limit: |_| crate::config::rlimits::UNLIMITED,
        environment: [("HOME", "/home/ann"), ("PATH", "/usr/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    crate::config::validate(yaml, "out.yaml", &ctx).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The lines of the YAML that are not comments, trimmed.
fn keys(imported: &Imported) -> Vec<String> {
    imported
        .yaml
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(String::from)
        .collect()
}

fn said(imported: &Imported, what: &str) -> bool {
    imported.unmapped.iter().any(|l| l.contains(what)) && imported.yaml.contains(what)
}

#[test]
fn levels() {
    assert_eq!(level("BLATHER"), "debug");
    assert_eq!(level("critical"), "error");
}

#[test]
fn a_program_maps_key_by_key_and_says_what_it_leaves() {
    let text = "[program:web]\ncommand = gunicorn -b :80%(process_num)02d app\nnumprocs = 2\n\
                process_name = %(program_name)s_%(process_num)02d\ndirectory = %(here)s/app\n\
                stdout_logfile = %(here)s/web.log\nstdout_logfile_maxbytes = 1MB\nredirect_stderr = true\n\
                stopsignal = INT\nserverurl = http://x\nautorestart = true\n";
    let imported = import(text);
    assert_eq!(
        imported.yaml,
        "# Imported from s.conf by `taskmaster --import`.\n# Processes get TASKMASTER_PROGRAM, \
         TASKMASTER_PROCESS_NAME and TASKMASTER_PROCESS_NUM, not supervisord's SUPERVISOR_* variables.\n\
         programs:\n  web:\n    \
         cmd: gunicorn -b :80${TASKMASTER_PROCESS_NUM:02} app\n    numprocs: 2\n    workingdir: /etc/sv/app\n    \
         stdout: {path: /etc/sv/web.log, maxbytes: 1MiB}\n    stderr: stdout\n    stopsignal: INT\n    \
         autorestart: always\n    # s.conf:10: [program:web] serverurl = http://x: programs reach taskmaster through its socket\n"
    );
    assert_eq!(
        imported.unmapped,
        ["s.conf:10: [program:web] serverurl = http://x: programs reach taskmaster through its socket"]
    );
    load(&imported.yaml);
}

#[test]
fn numbers_sizes_and_booleans_are_written_as_taskmaster_reads_them() {
    let text = "[program:a]\ncommand = sleep 1\nstdout_logfile = /tmp/a.log\nstdout_logfile_backups = 5\n\
                stdout_logfile_maxbytes = 1KB\npriority = 0_10\nstartsecs = 010\nautorestart = Yes\n\
                autostart = off\nexitcodes = 0, 2\numask = 0o27\nstopwaitsecs = %(numprocs)d\n";
    let imported = import(text);
    let config = load(&imported.yaml);
    let a = &config.programs["a"];
    assert_eq!(a.priority, 10);
    assert_eq!(a.starttime, std::time::Duration::from_secs(10));
    assert_eq!(a.stoptime, std::time::Duration::from_secs(1));
    assert!(!a.autostart);
    assert_eq!(a.autorestart, crate::config::RestartPolicy::Always);
    assert_eq!(a.exitcodes, [0, 2]);
    assert_eq!(a.umask, Some(crate::config::Mode(0o27)));
    assert!(keys(&imported).contains(&"stdout: {path: /tmp/a.log, maxbytes: 1KiB, backups: 5}".to_string()));
    assert!(imported.unmapped.is_empty(), "{:?}", imported.unmapped);
}

#[test]
fn killasgroup_alone_is_not_stopasgroup() {
    let alone = import("[program:a]\ncommand = x\nkillasgroup = true\n");
    assert!(!keys(&alone).iter().any(|k| k.starts_with("stopasgroup")), "{}", alone.yaml);
    assert!(said(&alone, "killasgroup = true: taskmaster signals the group for both"));
    let both = import("[program:a]\ncommand = x\nstopasgroup = true\nkillasgroup = true\n");
    assert!(keys(&both).contains(&"stopasgroup: true".to_string()));
    assert!(both.unmapped.is_empty());
    let refused = import("[program:a]\ncommand = x\nstopasgroup = true\nkillasgroup = false\n");
    assert!(said(&refused, "supervisord refuses stopasgroup without killasgroup"));
}

#[test]
fn stop_signals_are_named_however_supervisord_was_told() {
    let signal_of = |value: &str| {
        let imported = import(&format!("[program:a]\ncommand = x\nstopsignal = {value}\nstopwaitsecs = 3\n"));
        load(&imported.yaml);
        keys(&imported).into_iter().filter(|k| k.starts_with("stop")).collect::<Vec<_>>()
    };
    assert_eq!(signal_of("sigint"), ["stopsignal: INT", "stoptime: 3"]);
    assert_eq!(signal_of("1"), ["stopsignal: HUP", "stoptime: 3"]);
    assert_eq!(signal_of("term"), ["stoptime: 3"]);
    assert_eq!(signal_of("kill"), ["stoptime: 0"], "stopwaitsecs means nothing when the stop is a kill");
    let stop = import("[program:a]\ncommand = x\nstopsignal = STOP\n");
    assert!(said(&stop, "not pause it"));
}

#[test]
fn the_group_name_is_the_group_and_the_group_is_said() {
    let imported = import(
        "[program:a]\ncommand = run --queue %(group_name)s\n[group:workers]\nprograms = a,b\npriority = 5\n",
    );
    assert!(keys(&imported).contains(&"cmd: run --queue workers".to_string()), "{}", imported.yaml);
    assert!(said(&imported, "no [program:b]"));
    assert!(said(&imported, "[group:workers] priority = 5: groups are not carried over"));
}

#[test]
fn numprocs_start_says_which_values_change() {
    let imported = import(
        "[program:w]\ncommand = w --port 80%(process_num)02d\nnumprocs = 2\nnumprocs_start = 1\n\
         process_name = %(program_name)s_%(process_num)02d\n",
    );
    assert!(said(
        &imported,
        "process numbers start at 0 here, not 1: %(process_num) in command, process_name"
    ));
}

#[test]
fn environments_merge_as_supervisord_merges_them() {
    let imported =
        import("[supervisord]\nenvironment = A=1,B=2\n[program:a]\ncommand = x\nenvironment = B=3,C=4,C=5\n");
    let config = load(&imported.yaml);
    let env: Vec<(&str, &str)> =
        config.programs["a"].env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("A", "1"), ("B", "3"), ("C", "5")]);
    let broken = import("[supervisord]\nenvironment = A=1,B\n[program:a]\ncommand = x\n");
    assert!(said(&broken, "[supervisord] environment = A=1,B: supervisord refuses it"));
}

#[test]
fn sections_written_again_in_an_included_file_merge() {
    let imported = import_all(&[
        ("s.conf", "/etc/sv", "[supervisord]\nlogfile = /var/log/sv.log\n[program:a]\ncommand = x\n"),
        (
            "conf.d/b.conf",
            "/etc/sv/conf.d",
            "[supervisord]\nloglevel = debug\n[program:a]\ncommand = y %(here)s\n",
        ),
    ]);
    let keys = keys(&imported);
    assert_eq!(keys.iter().filter(|k| *k == "taskmaster:").count(), 1);
    assert!(keys.contains(&"loglevel: debug".to_string()));
    assert!(keys.contains(&"cmd: y /etc/sv/conf.d".to_string()), "{}", imported.yaml);
    load(&imported.yaml);
}

#[test]
fn each_stream_has_one_destination() {
    let imported = import(
        "[program:a]\ncommand = x\nstdout_logfile = none\nstdout_syslog = true\nstderr_logfile = /tmp/e.log\n\
         stderr_syslog = on\n[program:b]\ncommand = x\nredirect_stderr = true\nstderr_syslog = true\n\
         stdout_logfile_maxbytes = 0\n",
    );
    let config = load(&imported.yaml);
    assert_eq!(config.programs["a"].stdout, Some(crate::config::Output::Syslog));
    assert!(said(&imported, "[program:a] stderr_syslog = on: one destination per stream here"));
    assert!(said(&imported, "[program:b] stderr_syslog = true: redirect_stderr sends stderr"));
    assert!(said(&imported, "[program:b] stdout_logfile_maxbytes = 0: it applies to a log file"));
    assert!(imported.yaml.contains("supervisord kept stdout in an AUTO file"));
    assert!(!imported.yaml.contains("supervisord kept stderr in an AUTO file; here it is discarded unless `stderr` names a file\n    # s.conf:9"), "b's stderr goes to stdout");
}

#[test]
fn what_supervisord_does_only_when_it_daemonizes_is_said() {
    let foreground =
        import("[supervisord]\nnodaemon = true\numask = 077\ndirectory = /srv\n[program:a]\ncommand = x\n");
    assert!(said(&foreground, "umask = 077: supervisord uses it only when it daemonizes"));
    assert!(!keys(&foreground).iter().any(|k| k.starts_with("umask") || k.starts_with("workingdir")));
    let daemon = import("[supervisord]\numask = 077\ndirectory = /srv\n[program:a]\ncommand = x\n");
    assert!(keys(&daemon).contains(&"umask: '077'".to_string()));
    assert!(keys(&daemon).contains(&"workingdir: /srv".to_string()));
}

#[test]
fn names_supervisord_takes_and_taskmaster_does_not_are_renamed_and_said() {
    let imported =
        import("[program: web ]\ncommand = x\n[program:a@b]\ncommand = y\n[program:all]\ncommand = z\n");
    let config = load(&imported.yaml);
    let names: Vec<&str> = config.programs.keys().map(String::as_str).collect();
    assert_eq!(names, ["a_b", "all_", "web"]);
    assert!(said(&imported, "written as `a_b`"));
}

#[test]
fn every_value_s_names_are_filled_in_and_odd_text_stays_yaml() {
    let imported = import(
        "[program:a]\ncommand = echo \"\\$HOME\" a\u{85}b\rpriority = %(numprocs)d\nuser = %(program_name)s\n",
    );
    let k = keys(&imported);
    assert!(k.contains(&"priority: 1".to_string()), "{}", imported.yaml);
    assert!(k.contains(&"user: a".to_string()));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&imported.yaml).expect("YAML");
    assert_eq!(yaml["programs"]["a"]["cmd"].as_str(), Some("echo '\\$$HOME' a\u{85}b"), "{}", imported.yaml);
}

#[test]
fn a_log_on_taskmaster_s_own_output_and_the_machine_s_name_are_said() {
    let imported = import(
        "[program:a]\ncommand = run --node %(host_node_name)s\nstdout_logfile = /dev/stdout\nstdout_logfile_maxbytes = 0\n",
    );
    assert!(keys(&imported).contains(&"cmd: run --node box".to_string()));
    assert!(said(&imported, "stdout_logfile = /dev/stdout: taskmaster appends to files and terminals"));
    assert!(imported.unmapped.iter().any(|l| l.contains("%(host_node_name)s is written as `box`")));
    assert!(!keys(&imported).iter().any(|k| k.starts_with("stdout")));
    load(&imported.yaml);
}

#[test]
fn what_a_second_attack_found() {
    // [DEFAULT] gives every program the keys it does not set.
    let imported = import(
        "[DEFAULT]\nautostart = false\nenvironment = A=fromdefault\ncommand = sleep 2\n[supervisord]\nnodaemon = true\n\
         [program:p]\nstdout_logfile = NONE\n[program:q]\ncommand = sleep 3\n",
    );
    let config = load(&imported.yaml);
    assert_eq!(config.programs["p"].cmd.argv, ["sleep", "2"]);
    assert!(!config.programs["q"].autostart);
    assert_eq!(config.programs["q"].env.get("A").map(String::as_str), Some("fromdefault"));
    // Daemonizing, supervisord sets the umask 022.
    let daemon = import("[supervisord]\nlogfile = /tmp/x.log\n[program:u]\ncommand = x\n");
    assert_eq!(load(&daemon.yaml).programs["u"].umask, Some(crate::config::Mode(0o22)));
    // Names made the same by renaming stay apart; a renamed program's name is filled in as it was.
    let names = import(
        "[program:a_b]\ncommand = x\n[program:a;b]\ncommand = y %(program_name)s\n[program:a,b]\ncommand = z\n",
    );
    let config = load(&names.yaml);
    assert_eq!(config.programs.len(), 3);
    assert_eq!(config.programs["a_b_"].cmd.argv, ["y", "a;b"]);
    // No process at all, empty exit codes.
    let zero = import("[program:z]\ncommand = x\nnumprocs = 0\nexitcodes =\n");
    let z = &load(&zero.yaml).programs["z"];
    assert!(!z.autostart);
    assert!(z.exitcodes.is_empty());
    assert!(said(&zero, "supervisord starts no process of it"));
    // supervisord fills in %(ENV_X)s before it reads the pairs, from its own environment.
    let env = import(
        "[supervisord]\nenvironment = HOME=/srv,X=%(ENV_HOME)s\n[program:e]\ncommand = x\n\
                      environment = Y=%(ENV_HOME)s\n",
    );
    let e = &load(&env.yaml).programs["e"];
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(e.env.get("X"), Some(&home), "the OS environment's, not the one set before it");
    assert_eq!(e.env.get("Y").map(String::as_str), Some("/srv"), "the supervisord section's");
    // Its own log on a pipe.
    let log = import("[supervisord]\nnodaemon = true\nlogfile = /dev/stdout\n[program:l]\ncommand = x\n");
    assert!(said(&log, "logfile = /dev/stdout: taskmaster shows its log on its terminal"));
    assert!(!keys(&log).iter().any(|k| k.starts_with("logfile")));
}
