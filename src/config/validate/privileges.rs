//! The keys about who is who (taskmaster(1), PRIVILEGES): a program's `user` and `group`, and the
//! taskmaster section's `user`, `socket_owner` and `admins`. Names are resolved here, at load,
//! so that an unknown user is an error with its line and column, and so that nothing past the
//! load needs the name service.

use super::super::accounts::{Accounts, RunAs};
use super::super::node::Node;
use super::super::raw::Read;
use super::super::spec::{Admins, SocketOwner};
use super::{Here, Purpose, Validator};
use std::collections::BTreeMap;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

/// A user or a group as written: a name, or a number.
fn read_account(node: &Node, what: &str) -> Read<String> {
    match node {
        Node::Str(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Node::Int(i) if *i >= 0 => Ok(i.to_string()),
        other => Err(format!("expected a {what} name or number, found {}", other.kind())),
    }
}

/// The same, or nothing (`null`: the default).
fn optional_account(node: &Node, what: &str) -> Read<Option<String>> {
    match node {
        Node::Null => Ok(None),
        other => read_account(other, what).map(Some),
    }
}

impl Validator<'_> {
    fn accounts(&self) -> &Accounts {
        &self.ctx.accounts
    }

    /// The `user` and `group` of a program, checked against the user taskmaster runs as
    /// (`self.daemon_uid`): only root may run a program as someone else. `Some(None)`: neither
    /// key; `None`: a problem was recorded.
    pub(super) fn run_as(&mut self, at: &Here, e: &Entries) -> Option<Option<RunAs>> {
        let user = self.key(e, "user", |n| optional_account(n, "user"), None)?;
        let group = self.key(e, "group", |n| optional_account(n, "group"), None)?;
        if user.is_none() && group.is_none() {
            // Under `taskmaster: user:`, a program is that user's, HOME and all.
            return Some(self.daemon_user.clone());
        }
        let run_as = self.resolve(at, e, user.as_deref(), group.as_deref())?;
        let uid = self.daemon_uid;
        // Only a taskmaster that runs it must be root (`--check` warns instead), unless the file
        // itself gives root up.
        let enforced = self.daemon_user.is_some() || self.ctx.purpose == Purpose::Run;
        if uid == 0 || !enforced {
            return Some(Some(run_as));
        }
        // Without root, a process keeps taskmaster's user and its primary group: that is all
        // setuid and setgid allow.
        let primary = self.accounts().user(&run_as.uid.to_string()).map_or(None, |u| Some(u.gid));
        if run_as.uid != uid {
            let here = e.get("user").map_or(at, |(h, _)| h).clone();
            let message = format!("user '{}' needs taskmaster to run as root{}", run_as.user, self.dropped());
            self.problem(&here, None, message);
            return None;
        }
        if Some(run_as.gid) != primary {
            let here = e.get("group").map_or(at, |(h, _)| h).clone();
            let message =
                format!("group '{}' needs taskmaster to run as root{}", run_as.group, self.dropped());
            self.problem(&here, None, message);
            return None;
        }
        Some(Some(run_as))
    }

    /// Why taskmaster is not root, when the file itself made it so.
    fn dropped(&self) -> String {
        match &self.daemon_user {
            Some(user) => format!(" (`taskmaster: user: {}` gives root up)", user.user),
            None => String::new(),
        }
    }

    fn resolve(&mut self, at: &Here, e: &Entries, user: Option<&str>, group: Option<&str>) -> Option<RunAs> {
        match RunAs::resolve(self.accounts(), user, group, self.daemon_uid) {
            Ok(run_as) => Some(run_as),
            Err(problems) => {
                for (key, message) in problems {
                    let here = e.get(key).map_or(at, |(h, _)| h).clone();
                    self.problem(&here, Some(key), message);
                }
                None
            }
        }
    }

    /// `taskmaster: user:`: who taskmaster runs as once its socket and log are open. Sets
    /// `daemon_uid` for the checks of the programs.
    pub(super) fn daemon_user(&mut self, at: &Here, e: &Entries) -> Option<Option<RunAs>> {
        if self.ctx.purpose == Purpose::Connect {
            // A client only wants to know whom to trust at the socket: no error is its concern.
            let user = e.get("user").and_then(|(_, n)| optional_account(n, "user").ok()).flatten();
            return Some(
                user.and_then(|u| RunAs::resolve(self.accounts(), Some(&u), None, self.ctx.uid).ok()),
            );
        }
        let user = self.key(e, "user", |n| optional_account(n, "user"), None)?;
        let Some(user) = user else { return Some(None) };
        let run_as = self.resolve(at, e, Some(&user), None)?;
        if self.ctx.uid != 0 && run_as.uid != self.ctx.uid && self.ctx.purpose == Purpose::Run {
            let here = e.get("user").map_or(at, |(h, _)| h).clone();
            let message = format!("user '{}' needs taskmaster to be started as root", run_as.user);
            self.problem(&here, None, message);
            return None;
        }
        self.daemon_uid = run_as.uid;
        self.daemon_user = Some(run_as.clone());
        Some(Some(run_as))
    }

    /// `socket_owner: user[:group]` (either part may be left out: `:ops`).
    pub(super) fn socket_owner(&mut self, at: &Here, e: &Entries) -> Option<Option<SocketOwner>> {
        if self.ctx.purpose == Purpose::Connect {
            return Some(None);
        }
        let text = self.key(e, "socket_owner", |n| optional_account(n, "user[:group]"), None)?;
        let Some(text) = text else { return Some(None) };
        let here = e.get("socket_owner").map_or(at, |(h, _)| h).clone();
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user.trim(), Some(group.trim()).filter(|g| !g.is_empty())),
            None => (text.as_str(), None),
        };
        let uid = match user {
            "" => None,
            user => match self.accounts().user(user) {
                Ok(entry) => Some(entry.uid),
                Err(message) => {
                    self.problem(&here, Some("socket_owner"), message);
                    return None;
                }
            },
        };
        let gid = match group.map(|g| self.accounts().group(g)) {
            None => None,
            Some(Ok(entry)) => Some(entry.gid),
            Some(Err(message)) => {
                self.problem(&here, Some("socket_owner"), message);
                return None;
            }
        };
        if uid.is_none() && gid.is_none() {
            self.problem(&here, Some("socket_owner"), "expected user, user:group or :group".into());
            return None;
        }
        // The socket is made before root is given up: the user taskmaster is started as counts.
        // Read again by a taskmaster that gave root up, it was applied already.
        let gave_up = self.daemon_user.as_ref().is_some_and(|u| u.uid == self.ctx.uid);
        let enforced = self.ctx.purpose == Purpose::Run && !gave_up;
        if self.ctx.uid != 0 && uid.is_some_and(|u| u != self.ctx.uid) && enforced {
            let message = format!("socket_owner '{text}' needs taskmaster to run as root");
            self.problem(&here, None, message);
            return None;
        }
        Some(Some(SocketOwner { text, uid, gid }))
    }

    /// `admins: [root, alice, "@ops"]`: users (names or uids) and `@groups`.
    pub(super) fn admins(&mut self, e: &Entries) -> Option<Admins> {
        let mut admins = Admins::default();
        let Some((at, node)) = e.get("admins").filter(|_| self.ctx.purpose != Purpose::Connect) else {
            return Some(admins);
        };
        let items = match node {
            Node::Seq(items) => items.as_slice(),
            Node::Null => return Some(admins),
            single @ (Node::Str(_) | Node::Int(_)) => std::slice::from_ref(*single),
            other => {
                let message = format!("expected a list of users and @groups, found {}", other.kind());
                self.problem(at, Some("admins"), message);
                return None;
            }
        };
        let mut complete = true;
        for item in items {
            let resolved = read_account(item, "user or @group").and_then(|text| {
                let found = match text.strip_prefix('@') {
                    Some("") => Err("expected a group name after `@`".to_string()),
                    Some(group) => self.accounts().group(group).map(|g| admins.gids.insert(g.gid)),
                    None => self.accounts().user(&text).map(|u| admins.uids.insert(u.uid)).map_err(|e| {
                        // A group written without its `@`.
                        match self.accounts().group(&text) {
                            Ok(_) => format!("{e}; for the group, write \"@{text}\""),
                            Err(_) => e,
                        }
                    }),
                };
                found.map(|_| admins.written.push(text))
            });
            if let Err(message) = resolved {
                self.problem(at, Some("admins"), message);
                complete = false;
            }
        }
        complete.then_some(admins)
    }
}
