//! What a file says that is likely not what was meant (taskmaster(1), VARIABLES), and limits this
//! machine would refuse: a `$$` that became one `$` where a shell's pid was meant, supervisord's
//! `%(name)s` taken as text, `rlimits` above what taskmaster may raise here.

use crate::config::node::Node;
use crate::config::rlimits::shown;
use crate::config::{Output, ProgramSpec};

/// `(key, message)` of each likely slip in `spec`; `written`: its `cmd` as the file writes it.
pub(super) fn program_hints(spec: &ProgramSpec, written: Option<&str>) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if let Some(cmd) = written
        && let Some(at) = lone_pid(cmd)
    {
        let start = cmd[..at].rfind([' ', '\'', '"']).map_or(0, |i| i + 1);
        let end = cmd[at + 2..].find([' ', '\'', '"']).map_or(cmd.len(), |i| at + 2 + i);
        let message = format!(
            "`{}` gives the program one `$` (`$$` is a `$` in this file): for the shell's own pid, \
             write `$$$$`",
            &cmd[start..end]
        );
        found.push(("cmd", message));
    }
    let outputs = [("stdout", &spec.stdout), ("stderr", &spec.stderr)];
    let paths = outputs.iter().filter_map(|(key, o)| match o {
        Some(Output::File(f)) => Some((*key, f.path.to_string_lossy().into_owned())),
        _ => None,
    });
    let workingdir = spec.workingdir.iter().map(|d| ("workingdir", d.to_string_lossy().into_owned()));
    let values = [("cmd", spec.cmd.text.clone())]
        .into_iter()
        .chain(spec.env.values().map(|v| ("env", v.clone())))
        .chain(workingdir)
        .chain(paths);
    for (key, value) in values {
        if let Some((theirs, ours)) = supervisord_syntax(&value) {
            found
                .push((key, format!("`{theirs}` is supervisord's syntax, taken here as text: write {ours}")));
            break;
        }
    }
    found.extend(rlimit_hints(spec));
    found
}

/// Where `$$` is followed by what ends a shell's `$$` (not a name, `{` or another `$$`): a
/// shell pid that the file turned into one `$`.
fn lone_pid(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match (bytes[i + 1], bytes.get(i + 2), bytes.get(i + 3)) {
            (b'$', Some(b'$'), Some(b'$')) => i += 4,
            (b'$', None, _) => return Some(i),
            // `$$?`, `$$@` ... are the shell's `$?`, `$@`: written as they should be.
            (b'$', Some(c), _) if !(c.is_ascii_alphanumeric() || b"_{$?@!#*-".contains(c)) => return Some(i),
            (b'$', _, _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// supervisord's `%(name)s` in a value, and what taskmaster writes for it.
fn supervisord_syntax(value: &str) -> Option<(String, String)> {
    let start = value.find("%(")?;
    let close = value[start..].find(')')? + start;
    let name = &value[start + 2..close];
    let conversion: String = value[close + 1..].chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
    let end = close + 1 + conversion.len() + 1;
    let theirs = value.get(start..end.min(value.len()))?.to_string();
    let ours = match name {
        "process_num" => match conversion.trim_end_matches('d').strip_prefix('0') {
            Some(width) if !width.is_empty() => format!("${{TASKMASTER_PROCESS_NUM:0{width}}}"),
            _ => "${TASKMASTER_PROCESS_NUM}".to_string(),
        },
        "program_name" | "group_name" => "${TASKMASTER_PROGRAM}".to_string(),
        "process_name" => "${TASKMASTER_PROCESS_NAME}".to_string(),
        "here" => "a relative path (it is from this file's folder)".to_string(),
        env if env.starts_with("ENV_") => format!("${{{}}}", &env[4..]),
        _ => "`${NAME}` (taskmaster(1), VARIABLES)".to_string(),
    };
    Some((theirs, ours))
}

/// `rlimits` this taskmaster could not give: above its hard limit without root (the file is
/// refused when run so), or without CAP_SYS_RESOURCE as root (the start fails).
fn rlimit_hints(spec: &ProgramSpec) -> Vec<(&'static str, String)> {
    if spec.rlimits.is_empty() {
        // Without a look at /proc for each of a thousand programs.
        return Vec::new();
    }
    let root = nix::unistd::geteuid().is_root();
    let may_raise = root && crate::sys::limits::may_raise_hard_limits();
    spec.rlimits
        .iter()
        .filter(|(limit, value)| !may_raise && **value > crate::sys::limits::hard_limit(**limit))
        .map(|(limit, value)| {
            let hard = shown(crate::sys::limits::hard_limit(*limit));
            let why = match root {
                true => "this root has no CAP_SYS_RESOURCE (a container, say): its start would fail",
                false => "only root can raise it, and run as this user the file is refused",
            };
            (
                "rlimits",
                format!("{} {} is above the hard limit here ({hard}): {why}", limit.name(), shown(*value)),
            )
        })
        .collect()
}

/// The `cmd` of program `name` as written in the document `root`.
pub(super) fn written_cmd<'n>(root: &'n Node, name: &str) -> Option<&'n str> {
    let field = |node: &'n Node, key: &str| match node {
        Node::Map(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    };
    match field(field(field(root, "programs")?, name)?, "cmd")? {
        Node::Str(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_turned_into_a_dollar_is_found() {
        assert_eq!(lone_pid("sh -c 'echo $$'"), Some(12));
        assert_eq!(lone_pid("sh -c 'kill $$; x'"), Some(12));
        assert_eq!(lone_pid("echo $$"), Some(5));
        assert_eq!(lone_pid("sh -c 'echo $$$$'"), None, "written as it should be");
        assert_eq!(lone_pid("echo $${HOME} $$HOME $$_x ${A} $HOME 5$"), None);
        assert_eq!(lone_pid("sh -c 'sleep 1; echo $$?; exec \"$$@\"; $$!'"), None);
    }

    #[test]
    fn supervisords_syntax_is_pointed_to_ours() {
        let hint = |v: &str| supervisord_syntax(v).map(|(a, b)| format!("{a} -> {b}"));
        assert_eq!(
            hint("--port 80%(process_num)02d --x").as_deref(),
            Some("%(process_num)02d -> ${TASKMASTER_PROCESS_NUM:02}")
        );
        assert_eq!(hint("%(ENV_HOME)s/x").as_deref(), Some("%(ENV_HOME)s -> ${HOME}"));
        assert_eq!(
            hint("/var/log/%(program_name)s.log").as_deref(),
            Some("%(program_name)s -> ${TASKMASTER_PROGRAM}")
        );
        assert_eq!(hint("100%"), None);
        assert_eq!(hint("printf '%(x'"), None);
    }
}
