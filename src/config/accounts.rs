//! Users and groups by name or number (taskmaster(1), PRIVILEGES): looked up in the system's
//! databases when the configuration is loaded, never later. The child that runs a program shares
//! taskmaster's memory until it execs and may not call the name service (it could allocate, lock
//! or talk to a directory server): it gets numbers prepared here (see `sys::spawn`).
//! Tests give a fixed table instead of the system's databases.

use std::path::PathBuf;

/// A user's passwd entry: what a program run as that user gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserEntry {
    pub(crate) name: String,
    pub(crate) uid: u32,
    /// The primary group.
    pub(crate) gid: u32,
    pub(crate) home: PathBuf,
    pub(crate) shell: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub(crate) name: String,
    pub(crate) gid: u32,
    /// The users listed as members (not those whose primary group it is).
    pub(crate) members: Vec<String>,
}

/// Where users and groups are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accounts {
    /// The system's passwd and group databases (files, LDAP: whatever NSS is set up for).
    System,
    /// A fixed table, for tests.
    #[cfg(test)]
    Table { users: Vec<UserEntry>, groups: Vec<GroupEntry> },
}

impl Accounts {
    /// A user by name, or by number when no user has that name and `text` is all digits (as
    /// chown(1) reads them).
    pub(crate) fn user(&self, text: &str) -> Result<UserEntry, String> {
        let text = text.trim();
        let by_uid = number(text);
        let look = |by_id: Option<u32>| -> Result<Option<UserEntry>, String> {
            match self {
                Accounts::System => {
                    let found = match by_id {
                        Some(uid) => nix::unistd::User::from_uid(uid.into()),
                        None => nix::unistd::User::from_name(text),
                    };
                    let found = found.map_err(|e| format!("cannot look up user `{text}`: {}", e.desc()))?;
                    Ok(found.map(|u| UserEntry {
                        name: u.name,
                        uid: u.uid.as_raw(),
                        gid: u.gid.as_raw(),
                        home: u.dir,
                        shell: u.shell,
                    }))
                }
                #[cfg(test)]
                Accounts::Table { users, .. } => {
                    Ok(users.iter().find(|u| by_id.map_or(u.name == text, |uid| u.uid == uid)).cloned())
                }
            }
        };
        let found = match look(None)? {
            Some(user) => Some(user),
            None if by_uid.is_some() => look(by_uid)?,
            None => None,
        };
        let user = found.ok_or_else(|| match by_uid {
            Some(uid) => format!("no user has uid {uid} (not in the passwd database)"),
            None => format!("no user is named `{text}` (not in the passwd database)"),
        })?;
        usable(user.uid, "uid", &user.name)?;
        usable(user.gid, "primary gid", &user.name)?;
        Ok(user)
    }

    /// A group by name, or by number when no group has that name and `text` is all digits.
    pub(crate) fn group(&self, text: &str) -> Result<GroupEntry, String> {
        let text = text.trim();
        let by_gid = number(text);
        let look = |by_id: Option<u32>| -> Result<Option<GroupEntry>, String> {
            match self {
                Accounts::System => {
                    let found = match by_id {
                        Some(gid) => nix::unistd::Group::from_gid(gid.into()),
                        None => nix::unistd::Group::from_name(text),
                    };
                    let found = found.map_err(|e| format!("cannot look up group `{text}`: {}", e.desc()))?;
                    Ok(found.map(|g| GroupEntry { name: g.name, gid: g.gid.as_raw(), members: g.mem }))
                }
                #[cfg(test)]
                Accounts::Table { groups, .. } => {
                    Ok(groups.iter().find(|g| by_id.map_or(g.name == text, |gid| g.gid == gid)).cloned())
                }
            }
        };
        let found = match look(None)? {
            Some(group) => Some(group),
            None if by_gid.is_some() => look(by_gid)?,
            None => None,
        };
        let group = found.ok_or_else(|| match by_gid {
            Some(gid) => format!("no group has gid {gid} (not in the group database)"),
            None => format!("no group is named `{text}` (not in the group database)"),
        })?;
        usable(group.gid, "gid", &group.name)?;
        Ok(group)
    }

    /// The groups a process of `user` belongs to with `gid` as its group: `gid` first, then the
    /// groups that list the user as a member, as login(1) and su(1) set them (getgrouplist).
    pub(crate) fn groups_of(&self, user: &UserEntry, gid: u32) -> Result<Vec<u32>, String> {
        let mut groups: Vec<u32> = match self {
            Accounts::System => {
                let name = std::ffi::CString::new(user.name.as_str())
                    .map_err(|_| format!("user `{}` has a NUL byte in its name", user.name))?;
                nix::unistd::getgrouplist(&name, gid.into())
                    .map_err(|e| format!("cannot list the groups of `{}`: {}", user.name, e.desc()))?
                    .into_iter()
                    .map(|g| g.as_raw())
                    .collect()
            }
            #[cfg(test)]
            Accounts::Table { groups, .. } => std::iter::once(gid)
                .chain(groups.iter().filter(|g| g.members.contains(&user.name)).map(|g| g.gid))
                .collect::<Vec<u32>>(),
        };
        // getgrouplist puts `gid` in the list; keep it first and once.
        groups.retain(|g| *g != gid);
        groups.insert(0, gid);
        Ok(groups)
    }
}

/// `text` as a uid or gid: digits only (no sign, no spaces).
fn number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// An id the kernel can set: the largest one means "leave it as it is" to setresuid(2) and
/// setresgid(2), which would leave a program with root's.
fn usable(id: u32, what: &str, name: &str) -> Result<(), String> {
    match id {
        u32::MAX => Err(format!(
            "`{name}` has {what} {id}, which cannot be set (to the kernel it means \"unchanged\")"
        )),
        _ => Ok(()),
    }
}

/// Who a program's processes run as, resolved at load: numbers for the child, names for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) user: String,
    pub(crate) uid: u32,
    pub(crate) group: String,
    pub(crate) gid: u32,
    /// Every group of the process, `gid` first.
    pub(crate) groups: Vec<u32>,
    pub(crate) home: PathBuf,
    pub(crate) shell: PathBuf,
}

impl RunAs {
    /// `user` and `group` as written (either may be absent: the other side is taskmaster's own
    /// user, or the user's primary group). `own_uid`: taskmaster's user.
    pub(crate) fn resolve(
        accounts: &Accounts,
        user: Option<&str>,
        group: Option<&str>,
        own_uid: u32,
    ) -> Result<RunAs, Vec<(&'static str, String)>> {
        let user = match user {
            Some(text) => accounts.user(text).map_err(|e| ("user", e)),
            None => accounts
                .user(&own_uid.to_string())
                .map_err(|e| ("group", format!("taskmaster's own user (uid {own_uid}) is unknown: {e}"))),
        };
        let group = group.map(|text| accounts.group(text).map_err(|e| ("group", e)));
        let (user, group) = match (user, group) {
            (Ok(user), None) => {
                // A primary group without a group entry is shown by its number.
                let name =
                    accounts.group(&user.gid.to_string()).map_or_else(|_| user.gid.to_string(), |g| g.name);
                let group = GroupEntry { name, gid: user.gid, members: Vec::new() };
                (user, group)
            }
            (Ok(user), Some(Ok(group))) => (user, group),
            (Err(e), None | Some(Ok(_))) => return Err(vec![e]),
            (Ok(_), Some(Err(e))) => return Err(vec![e]),
            (Err(a), Some(Err(b))) => return Err(vec![a, b]),
        };
        let groups = accounts.groups_of(&user, group.gid).map_err(|e| vec![("user", e)])?;
        Ok(RunAs {
            user: user.name,
            uid: user.uid,
            group: group.name,
            gid: group.gid,
            groups,
            home: user.home,
            shell: user.shell,
        })
    }

    /// What the program finds in its environment about who it is (unless its `env` says
    /// otherwise): the passwd entry, as login(1) sets it.
    pub(crate) fn environment(&self) -> [(&'static str, String); 4] {
        [
            ("HOME", self.home.to_string_lossy().into_owned()),
            ("USER", self.user.clone()),
            ("LOGNAME", self.user.clone()),
            ("SHELL", self.shell.to_string_lossy().into_owned()),
        ]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// root, alice (1000, in `ops`), bob (1001), and their groups.
    pub(crate) fn table() -> Accounts {
        let user = |name: &str, uid: u32| UserEntry {
            name: name.into(),
            uid,
            gid: uid,
            home: format!("/home/{name}").into(),
            shell: "/bin/sh".into(),
        };
        let group = |name: &str, gid: u32, members: &[&str]| GroupEntry {
            name: name.into(),
            gid,
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        Accounts::Table {
            users: vec![user("root", 0), user("alice", 1000), user("bob", 1001)],
            groups: vec![
                group("root", 0, &[]),
                group("alice", 1000, &[]),
                group("bob", 1001, &[]),
                group("ops", 2000, &["alice"]),
            ],
        }
    }

    #[test]
    fn users_and_groups_by_name_or_number() {
        let t = table();
        assert_eq!(t.user("alice").map(|u| u.uid), Ok(1000));
        assert_eq!(t.user("1001").map(|u| u.name), Ok("bob".to_string()));
        assert_eq!(t.user("carol"), Err("no user is named `carol` (not in the passwd database)".into()));
        assert_eq!(t.user("4242"), Err("no user has uid 4242 (not in the passwd database)".into()));
        assert_eq!(t.group("ops").map(|g| g.gid), Ok(2000));
        assert_eq!(t.group("nogroup"), Err("no group is named `nogroup` (not in the group database)".into()));
        assert!(t.user("+0").is_err(), "digits only");
        assert!(t.user(" 0").is_ok(), "spaces around are trimmed");
    }

    #[test]
    fn a_name_wins_over_a_number_and_the_unsettable_id_is_refused() {
        let Accounts::Table { mut users, mut groups } = table() else { unreachable!() };
        groups.push(GroupEntry { name: "1000".into(), gid: 3000, members: Vec::new() });
        users.push(UserEntry {
            name: "minus".into(),
            uid: u32::MAX,
            gid: 1,
            home: "/".into(),
            shell: "/".into(),
        });
        let t = Accounts::Table { users, groups };
        assert_eq!(t.group("1000").map(|g| g.gid), Ok(3000), "the group named 1000");
        assert_eq!(t.group("1001").map(|g| g.name), Ok("bob".into()), "gid 1001");
        assert!(t.user("minus").unwrap_err().contains("uid 4294967295, which cannot be set"));
    }

    #[test]
    fn a_user_runs_with_its_primary_group_and_its_memberships() {
        let as_alice = RunAs::resolve(&table(), Some("alice"), None, 0).unwrap();
        assert_eq!((as_alice.uid, as_alice.gid, as_alice.group.as_str()), (1000, 1000, "alice"));
        assert_eq!(as_alice.groups, vec![1000, 2000]);
        assert_eq!(as_alice.environment()[0], ("HOME", "/home/alice".to_string()));
        let with_ops = RunAs::resolve(&table(), Some("bob"), Some("ops"), 0).unwrap();
        assert_eq!((with_ops.uid, with_ops.gid, with_ops.groups.clone()), (1001, 2000, vec![2000]));
    }

    #[test]
    fn a_group_alone_keeps_taskmasters_own_user() {
        let r = RunAs::resolve(&table(), None, Some("ops"), 1000).unwrap();
        assert_eq!((r.user.as_str(), r.uid, r.gid), ("alice", 1000, 2000));
    }

    #[test]
    fn both_unknown_are_both_said() {
        let errors = RunAs::resolve(&table(), Some("carol"), Some("nogroup"), 0).unwrap_err();
        assert_eq!(errors.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["user", "group"]);
    }
}
