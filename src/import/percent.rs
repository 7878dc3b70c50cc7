//! supervisord's `%(name)s` in a value (Python's `%` formatting with a table of names), written
//! the way taskmaster says it (taskmaster(1), VARIABLES): `${TASKMASTER_PROCESS_NUM:02}` for
//! `%(process_num)02d`, `${HOME}` for `%(ENV_HOME)s`, the folder itself for `%(here)s`.

/// What the names of one section stand for.
pub(crate) struct Names<'a> {
    pub(crate) program: Option<&'a str>,
    /// The folder of the file the section is in.
    pub(crate) here: &'a str,
    pub(crate) numprocs: u32,
    pub(crate) host: &'a str,
}

/// How a value is written: where taskmaster expands `${...}` (each `$` doubled, names kept as
/// variables), or where it takes the text as it is (names filled in now).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Into {
    Expanded,
    Literal,
}

/// `value` converted; `Err`: a name supervisord knows but taskmaster cannot say here, or does not
/// know (the caller lists it).
pub(crate) fn convert(value: &str, names: &Names, into: Into) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    let text = |out: &mut String, t: &str| match into {
        Into::Expanded => out.push_str(&t.replace('$', "$$")),
        Into::Literal => out.push_str(t),
    };
    while let Some(at) = rest.find('%') {
        text(&mut out, &rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('%') {
            text(&mut out, "%");
            rest = more;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            // Python refuses it; supervisord with it. Kept as written.
            text(&mut out, "%");
            rest = after;
            continue;
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("`%(` is not closed in `{value}`"));
        };
        let name = &inner[..close];
        let flags: String = inner[close + 1..].chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
        let Some(kind) = inner[close + 1 + flags.len()..].chars().next() else {
            return Err(format!("`%({name})` has no conversion (`s` or `d`) in `{value}`"));
        };
        rest = &inner[close + 1 + flags.len() + kind.len_utf8()..];
        let width = flags.strip_prefix('0').and_then(|w| w.parse::<usize>().ok()).unwrap_or(0);
        out.push_str(&name_as(name, width, names, into)?);
    }
    text(&mut out, rest);
    Ok(out)
}

fn name_as(name: &str, width: usize, names: &Names, into: Into) -> Result<String, String> {
    let literal = |t: &str| match into {
        Into::Expanded => t.replace('$', "$$"),
        Into::Literal => t.to_string(),
    };
    Ok(match (name, into) {
        ("here", _) => literal(names.here),
        ("host_node_name", _) => literal(names.host),
        ("numprocs", _) => names.numprocs.to_string(),
        ("program_name" | "group_name", Into::Expanded) if names.program.is_some() => {
            "${TASKMASTER_PROGRAM}".to_string()
        }
        ("program_name" | "group_name", _) if names.program.is_some() => {
            literal(names.program.unwrap_or_default())
        }
        ("process_num", Into::Expanded) if names.program.is_some() => match width {
            0 | 1 => "${TASKMASTER_PROCESS_NUM}".to_string(),
            w => format!("${{TASKMASTER_PROCESS_NUM:0{w}}}"),
        },
        (env, Into::Expanded) if env.starts_with("ENV_") => format!("${{{}}}", &env[4..]),
        (env, Into::Literal) if env.starts_with("ENV_") => std::env::var(&env[4..])
            .map_err(|_| format!("`%({env})s` names a variable this environment lacks"))?,
        (other, _) => return Err(format!("`%({other})` cannot be said here")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names { program: Some("web"), here: "/etc/sv", numprocs: 4, host: "box" };

    #[test]
    fn names_become_variables_where_taskmaster_expands() {
        let c = |v: &str| convert(v, &NAMES, Into::Expanded);
        assert_eq!(
            c("gunicorn -b :80%(process_num)02d app").as_deref(),
            Ok("gunicorn -b :80${TASKMASTER_PROCESS_NUM:02} app")
        );
        assert_eq!(
            c("%(here)s/%(program_name)s-%(process_num)d.log").as_deref(),
            Ok("/etc/sv/${TASKMASTER_PROGRAM}-${TASKMASTER_PROCESS_NUM}.log")
        );
        assert_eq!(c("%(ENV_HOME)s/x %(numprocs)d").as_deref(), Ok("${HOME}/x 4"));
        assert_eq!(c("date +%%s; echo $$ 100%").as_deref(), Ok("date +%s; echo $$$$ 100%"));
        assert!(c("%(nope)s").unwrap_err().contains("`%(nope)` cannot be said here"));
        assert!(c("%(here").unwrap_err().contains("is not closed"));
    }

    #[test]
    fn names_are_filled_in_where_it_takes_text() {
        let c = |v: &str| convert(v, &NAMES, Into::Literal);
        assert_eq!(c("%(program_name)s $1").as_deref(), Ok("web $1"));
        assert!(c("%(process_num)d").is_err());
    }
}
