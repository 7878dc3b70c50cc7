//! Who may do what over the control socket (taskmaster(1), PRIVILEGES). Pure: the decision is a
//! function of the configuration's admins and the peer's credentials, which the server read from
//! the kernel when the client connected.

use super::command::{Command, Order};
use crate::config::Admins;

/// A client, as the kernel knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Its supplementary groups.
    pub(crate) groups: Vec<u32>,
    /// Its user's name, when the passwd database has one.
    pub(crate) name: Option<String>,
}

impl Peer {
    /// `uid 1000 (alice)`, as the log and the refusals say it.
    pub(crate) fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("uid {} ({name})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }
}

/// Whether `peer` may change anything: root, `own` (the user taskmaster runs as: it could stop
/// taskmaster anyway), an `admins` user, or a member (primary or supplementary) of an `admins`
/// @group.
pub(crate) fn is_admin(admins: &Admins, peer: &Peer, own: u32) -> bool {
    peer.uid == 0
        || peer.uid == own
        || admins.uids.contains(&peer.uid)
        || admins.gids.contains(&peer.gid)
        || peer.groups.iter().any(|g| admins.gids.contains(g))
}

/// The commands anyone who can connect may run: they read, and change nothing.
pub(crate) const READER_COMMANDS: &str = "status, pid, tail, alerts, version and help";

/// Whether only an admin may run `command`. `reload --dry-run` changes nothing but reads the
/// configuration file, which a reader may not be allowed to see.
pub(crate) fn needs_admin(command: &Command) -> bool {
    match command {
        Command::Order(Order::Status(_) | Order::Pid(_))
        | Command::Help(_)
        | Command::Version
        | Command::Quit
        | Command::Tail { .. }
        | Command::Alerts { test: false } => false,
        // Keys typed into a program are as good as any command.
        Command::Alerts { test: true } | Command::Attach { .. } | Command::Reopen => true,
        Command::Order(
            Order::Start(_) | Order::Stop(_) | Order::Restart(_) | Order::Signal(..) | Order::Shutdown,
        )
        | Command::Reload { .. } => true,
    }
}

/// Whether `command` changes something, and so is written in the log with who sent it.
pub(crate) fn changes(command: &Command) -> bool {
    match command {
        Command::Reload { dry_run } => !dry_run,
        other => needs_admin(other),
    }
}

/// The most of a request's words the log shows, in bytes.
const LOGGED_WORDS: usize = 300;

/// A request as the log shows it: its words, each quoted and escaped when it holds anything but
/// printable ASCII (a space, a newline, a right-to-left override), so that no client can forge a
/// log line; at most `LOGGED_WORDS` bytes of them, so that none can fill the disk fast.
pub(crate) fn words(command: &str, args: &[String]) -> String {
    let shown =
        |word: &String| match !word.is_empty() && word.chars().all(|c| c.is_ascii_graphic() && c != '"') {
            true => word.clone(),
            false => format!("{word:?}"),
        };
    let all = std::iter::once(&command.to_string()).chain(args).map(shown).collect::<Vec<_>>().join(" ");
    if all.len() <= LOGGED_WORDS {
        return all;
    }
    let cut = (0..=LOGGED_WORDS).rev().find(|i| all.is_char_boundary(*i)).unwrap_or(0);
    format!("{}... ({} bytes)", &all[..cut], all.len())
}

/// What a refusal names, one line each: the targets of the command, or the command itself.
pub(crate) fn refused_names(command: &Command, name: &str) -> Vec<String> {
    match command {
        Command::Order(Order::Start(targets) | Order::Stop(targets) | Order::Restart(targets))
        | Command::Order(Order::Signal(_, targets)) => targets.clone(),
        Command::Order(Order::Status(_) | Order::Pid(_) | Order::Shutdown)
        | Command::Reload { .. }
        | Command::Help(_)
        | Command::Version
        | Command::Quit
        | Command::Tail { .. }
        | Command::Attach { .. }
        | Command::Reopen
        | Command::Alerts { .. } => vec![name.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::command::parse;

    fn admins() -> Admins {
        Admins { written: vec!["@ops".into(), "1500".into()], uids: [1500].into(), gids: [2000].into() }
    }

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer { uid, gid, groups: groups.to_vec(), name: None }
    }

    #[test]
    fn admins_are_users_and_members_of_admin_groups() {
        let own = 999;
        assert!(is_admin(&admins(), &peer(0, 0, &[]), own), "root");
        assert!(is_admin(&admins(), &peer(999, 999, &[]), own), "taskmaster's user");
        assert!(is_admin(&admins(), &peer(1500, 1500, &[]), own), "a user named");
        assert!(is_admin(&admins(), &peer(1000, 2000, &[]), own), "ops as primary group");
        assert!(is_admin(&admins(), &peer(1000, 1000, &[1000, 2000]), own), "ops as a supplementary group");
        assert!(!is_admin(&admins(), &peer(1001, 1001, &[1001, 3000]), own), "anyone else");
    }

    #[test]
    fn readers_may_read_and_only_admins_change() {
        let needs = |line: &str| {
            let words: Vec<String> = line.split(' ').skip(1).map(str::to_string).collect();
            needs_admin(&parse(line.split(' ').next().unwrap(), &words).unwrap())
        };
        for line in ["status", "status web", "pid", "pid web", "version", "help", "help stop", "quit"] {
            assert!(!needs(line), "{line}");
        }
        for line in
            ["start web", "stop all", "restart web:*", "signal HUP web", "shutdown", "reload", "reopen"]
        {
            assert!(needs(line), "{line}");
        }
        assert!(needs("reload --dry-run"), "the file may be secret");
        assert!(!changes(&Command::Reload { dry_run: true }));
        assert!(changes(&Command::Reload { dry_run: false }));
    }

    #[test]
    fn a_request_is_logged_on_one_line() {
        let args = ["web".to_string(), "x\n10:00 INFO forged".to_string(), "a b".to_string()];
        assert_eq!(words("stop", &args), r#"stop web "x\n10:00 INFO forged" "a b""#);
        assert_eq!(words("stop", &["\u{202e}bew".to_string()]), r#"stop "\u{202e}bew""#);
        let long = words("stop", &vec!["web".to_string(); 1000]);
        assert!(long.len() < 400 && long.ends_with("... (4004 bytes)"), "{long}");
    }

    #[test]
    fn a_refusal_names_the_targets_or_the_command() {
        let stop = Command::Order(Order::Stop(vec!["web:web_00".into(), "db".into()]));
        assert_eq!(refused_names(&stop, "stop"), ["web:web_00", "db"]);
        assert_eq!(refused_names(&Command::Order(Order::Shutdown), "shutdown"), ["shutdown"]);
        assert_eq!(
            Peer { name: Some("alice".into()), ..peer(1000, 1000, &[]) }.describe(),
            "uid 1000 (alice)"
        );
        assert_eq!(peer(4242, 1, &[]).describe(), "uid 4242");
    }
}
