//! `user`, `group`, `socket_owner` and `admins` (taskmaster(1), PRIVILEGES), with the accounts of
//! `accounts::tests::table`: root, alice (1000, in `ops`), bob (1001).

use super::*;

fn as_uid(uid: u32, purpose: Purpose) -> Context {
    Context {
        config_dir: PathBuf::from("/etc/tm"),
        home: None,
        runtime_dir: None,
        uid,
        accounts: crate::config::accounts::tests::table(),
        purpose,
        hard_limit: |_| crate::config::rlimits::UNLIMITED,
        environment: BTreeMap::new(),
    }
}

fn load(text: &str, uid: u32) -> Result<Config, Vec<String>> {
    validate(text, "t.yaml", &as_uid(uid, Purpose::Run)).map_err(|e| e.lines())
}

#[test]
fn what_needs_root_is_only_an_error_for_a_taskmaster_that_runs_the_file() {
    let text = format!("taskmaster:\n  socket_owner: bob\n  user: bob\n{}", program(""));
    let check = validate(&text, "t.yaml", &as_uid(1000, Purpose::Check));
    assert_eq!(check.map(|c| c.daemon.user.map(|u| u.uid)), Ok(Some(1001)), "--check leaves it to warnings");
    let connect = validate(&text, "t.yaml", &as_uid(1000, Purpose::Connect)).expect("valid");
    assert_eq!(connect.daemon.socket_owner, None, "a client needs the socket ...");
    assert_eq!(connect.daemon.user.map(|u| u.uid), Some(1001), "... and whom to trust there");
    let unknown = text.replace("user: bob", "user: nobody-at-all");
    assert!(
        validate(&unknown, "t.yaml", &as_uid(1000, Purpose::Connect)).is_ok_and(|c| c.daemon.user.is_none())
    );
    // What the file itself forbids stays an error for everyone.
    let text = format!("taskmaster:\n  user: bob\n{}", program("    user: alice\n"));
    assert!(validate(&text, "t.yaml", &as_uid(1000, Purpose::Check)).is_err());
}

#[test]
fn a_daemon_user_is_the_user_of_every_program_that_names_none() {
    let text = format!("taskmaster:\n  user: bob\n{}", program(""));
    let run_as = load(&text, 0).expect("valid").programs["web"].run_as.clone().expect("a user");
    assert_eq!((run_as.user.as_str(), run_as.home.to_str()), ("bob", Some("/home/bob")));
}

#[test]
fn a_group_among_admins_needs_its_at_sign() {
    let text = format!("taskmaster:\n  admins: [ops, \"@\"]\n{}", program(""));
    let errors = load(&text, 0).unwrap_err();
    assert!(
        errors[0]
            .ends_with("no user is named `ops` (not in the passwd database); for the group, write \"@ops\""),
        "{errors:?}"
    );
    assert!(errors[1].ends_with("expected a group name after `@`"), "{errors:?}");
}

fn program(body: &str) -> String {
    format!("programs:\n  web:\n    cmd: sleep 1\n{body}")
}

#[test]
fn root_runs_a_program_as_a_user_with_its_groups() {
    let config = load(&program("    user: alice\n"), 0).expect("valid");
    let run_as = config.programs["web"].run_as.clone().expect("a user");
    assert_eq!((run_as.uid, run_as.gid, run_as.groups), (1000, 1000, vec![1000, 2000]));
    let config = load(&program("    user: 1001\n    group: ops\n"), 0).expect("valid");
    let run_as = config.programs["web"].run_as.clone().expect("a user");
    assert_eq!((run_as.user.as_str(), run_as.group.as_str(), run_as.gid), ("bob", "ops", 2000));
}

#[test]
fn an_unknown_user_or_group_is_an_error_where_it_is_written() {
    let errors = load(&program("    user: carol\n    group: nogroup\n"), 0).unwrap_err();
    assert_eq!(
        errors,
        [
            "t.yaml:4:5: program 'web': user: no user is named `carol` (not in the passwd database)",
            "t.yaml:5:5: program 'web': group: no group is named `nogroup` (not in the group database)",
        ]
    );
    let errors = load(&program("    user: [alice]\n"), 0).unwrap_err();
    assert!(errors[0].contains("user: expected a user name or number, found a list"), "{errors:?}");
}

#[test]
fn without_root_only_taskmasters_own_user_may_be_named() {
    assert!(load(&program("    user: alice\n"), 1000).is_ok(), "one's own user");
    let errors = load(&program("    user: bob\n"), 1000).unwrap_err();
    assert_eq!(errors, ["t.yaml:4:5: program 'web': user 'bob' needs taskmaster to run as root"]);
    let errors = load(&program("    group: ops\n"), 1000).unwrap_err();
    assert_eq!(errors, ["t.yaml:4:5: program 'web': group 'ops' needs taskmaster to run as root"]);
}

#[test]
fn a_daemon_that_gives_root_up_runs_its_programs_as_that_user_only() {
    let text = format!("taskmaster:\n  user: bob\n{}", program("    user: alice\n"));
    let errors = load(&text, 0).unwrap_err();
    assert_eq!(
        errors,
        ["t.yaml:6:5: program 'web': user 'alice' needs taskmaster to run as root \
          (`taskmaster: user: bob` gives root up)"]
    );
    let text = format!("taskmaster:\n  user: bob\n{}", program("    user: bob\n"));
    let config = load(&text, 0).expect("valid");
    assert_eq!(config.daemon.user.map(|u| u.uid), Some(1001));
    let errors = load("taskmaster:\n  user: bob\nprograms:\n  a:\n    cmd: x\n", 1000).unwrap_err();
    assert_eq!(errors, ["t.yaml:2:3: taskmaster: user 'bob' needs taskmaster to be started as root"]);
}

#[test]
fn a_taskmaster_that_gave_root_up_reads_its_own_file_again() {
    let text = format!("taskmaster:\n  user: bob\n  socket_owner: root:ops\n{}", program(""));
    assert!(load(&text, 1001).is_ok(), "its socket got that owner at start");
    assert!(load(&text, 1000).is_err(), "anyone else could not give it");
}

#[test]
fn admins_are_root_taskmasters_user_and_the_names_given() {
    let config = load(&program(""), 1000).expect("valid");
    assert!(config.daemon.admins.uids.is_empty(), "root and taskmaster's own are always admins");
    let text = format!("taskmaster:\n  admins: [bob, \"@ops\"]\n{}", program(""));
    let admins = load(&text, 0).expect("valid").daemon.admins;
    assert_eq!(admins.uids.iter().copied().collect::<Vec<_>>(), [1001]);
    assert_eq!(admins.gids.iter().copied().collect::<Vec<_>>(), [2000]);
    assert_eq!(admins.written, ["bob", "@ops"]);
    let text = format!("taskmaster:\n  admins: [carol, \"@nogroup\"]\n{}", program(""));
    let errors = load(&text, 0).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("t.yaml:2:3: taskmaster: admins: no user is named `carol`"), "{errors:?}");
}

#[test]
fn the_socket_owner_is_a_user_a_group_or_both() {
    let owner = |text: &str, uid: u32| {
        load(&format!("taskmaster:\n  socket_owner: \"{text}\"\n{}", program("")), uid)
            .map(|c| c.daemon.socket_owner.map(|o| (o.uid, o.gid)))
    };
    assert_eq!(owner("alice:ops", 0), Ok(Some((Some(1000), Some(2000)))));
    assert_eq!(owner(":ops", 1000), Ok(Some((None, Some(2000)))));
    assert_eq!(owner("bob", 0), Ok(Some((Some(1001), None))));
    assert!(
        owner("bob", 1000).unwrap_err()[0].contains("socket_owner 'bob' needs taskmaster to run as root")
    );
    assert!(owner("alice:nogroup", 0).unwrap_err()[0].contains("no group is named `nogroup`"));
}

#[test]
fn the_keys_are_shown_by_check_and_read_back_the_same() {
    let text = format!(
        "taskmaster:\n  socket_owner: root:ops\n  admins: [\"@ops\"]\n  user: root\n{}",
        program("    user: bob\n    group: ops\n")
    );
    let config = load(&text, 0).expect("valid");
    let shown = crate::config::render(&config);
    for line in ["socket_owner: root:ops", "admins:\n  - '@ops'", "    user: bob\n    group: ops"] {
        assert!(shown.contains(line), "`{line}` in:\n{shown}");
    }
    assert_eq!(load(&shown, 0).expect("valid"), config);
}
