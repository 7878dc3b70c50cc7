//! supervisord's `%(name)s` in a value (Python's `%` formatting with a table of names), written
//! the way taskmaster says it (taskmaster(1), VARIABLES): `${TASKMASTER_PROCESS_NUM:02}` for
//! `%(process_num)02d`, `${HOME}` for `%(ENV_HOME)s`, the folder itself for `%(here)s`.

/// What the names of one section stand for.
pub(crate) struct Names<'a> {
    pub(crate) program: Option<&'a str>,
    /// The `[group:NAME]` that lists the program, if one does.
    pub(crate) group: Option<&'a str>,
    /// The folder of the file the value is in.
    pub(crate) here: &'a str,
    pub(crate) numprocs: u32,
    pub(crate) host: &'a str,
    /// Whether the program keeps its name here (`${TASKMASTER_PROGRAM}` is its name).
    pub(crate) program_is_name: bool,
    /// `[supervisord] environment`, as its `%(ENV_X)s` sees it before the process's own.
    pub(crate) environ: &'a [(String, String)],
}

/// How a value is written: where taskmaster expands `${...}` (each `$` doubled, names kept as
/// variables), the same with supervisord's environment variables filled in now (where
/// supervisord reads them before it cuts the value), or where taskmaster takes the text as it
/// is (every name filled in now).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Into {
    Expanded,
    EnvFilled,
    Literal,
}

/// A value cut at its names: text as it is, or a taskmaster variable (`${...}`, only where
/// taskmaster expands).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Variable(String),
}

/// `value` converted; `Err`: a name supervisord knows but taskmaster cannot say here, or one it
/// does not know (the caller lists it).
pub(crate) fn convert(value: &str, names: &Names, into: Into) -> Result<String, String> {
    let pieces = pieces(value, names, into)?;
    Ok(match into {
        Into::Expanded | Into::EnvFilled => join(&pieces),
        Into::Literal => pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Variable(t) => t.as_str(),
            })
            .collect(),
    })
}

/// The pieces written as taskmaster reads them where it expands: `$` in text doubled.
pub(crate) fn join(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.replace('$', "$$"),
            Piece::Variable(v) => v.clone(),
        })
        .collect()
}

/// `value` cut at its names, each name filled in or made a variable.
pub(crate) fn pieces(value: &str, names: &Names, into: Into) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('%') {
            text.push('%');
            rest = more;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            // Python refuses it, and supervisord the file; kept as written.
            text.push('%');
            rest = after;
            continue;
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("`%(` is not closed in `{value}`"));
        };
        let name = &inner[..close];
        let spec: String = inner[close + 1..].chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
        let Some(kind) = inner[close + 1 + spec.len()..].chars().next() else {
            return Err(format!("`%({name})` has no conversion (`s` or `d`) in `{value}`"));
        };
        rest = &inner[close + 1 + spec.len() + kind.len_utf8()..];
        let format = Format::read(&spec, kind).ok_or_else(|| {
            format!("`%({name}){spec}{kind}`: only `s` and `d`, with a width, are carried over")
        })?;
        match name_as(name, &format, names, into)? {
            Piece::Text(t) => text.push_str(&t),
            variable => {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(variable);
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// Python's `%` conversion after a name: `-` and `0` flags, a width, `s` or `d` (`i`).
struct Format {
    left: bool,
    zero: bool,
    width: usize,
    number: bool,
}

/// Wider than this is not a configuration.
const MAX_WIDTH: usize = 1024;

impl Format {
    fn read(spec: &str, kind: char) -> Option<Format> {
        let flags: String = spec.chars().take_while(|c| *c == '-' || *c == '0').collect();
        let digits = &spec[flags.len()..];
        let width = match digits {
            "" => 0,
            d => d.parse().ok().filter(|w| *w <= MAX_WIDTH)?,
        };
        let number = match kind {
            's' => false,
            'd' | 'i' => true,
            _ => return None,
        };
        Some(Format { left: flags.contains('-'), zero: flags.contains('0'), width, number })
    }

    /// `text` padded as Python pads it: zeros only for a number, spaces otherwise.
    fn pad(&self, text: &str) -> String {
        let w = self.width;
        match (self.left, self.zero && self.number) {
            (true, _) => format!("{text:<w$}"),
            (false, true) => format!("{text:0>w$}"),
            (false, false) => format!("{text:>w$}"),
        }
    }
}

fn name_as(name: &str, format: &Format, names: &Names, into: Into) -> Result<Piece, String> {
    let text = |t: &str| Ok(Piece::Text(format.pad(t)));
    let words = |t: &str| match format.number {
        true => Err(format!("supervisord refuses `%({name})d`: it is not a number")),
        false => text(t),
    };
    let program = names.program.unwrap_or_default();
    match (name, into) {
        ("here", _) => words(names.here),
        ("host_node_name", _) => words(names.host),
        ("numprocs", _) => text(&names.numprocs.to_string()),
        ("group_name", _) if names.group.is_some() => words(names.group.unwrap_or_default()),
        ("program_name" | "group_name", Into::Expanded | Into::EnvFilled)
            if names.program.is_some() && names.program_is_name && format.width == 0 && !format.number =>
        {
            Ok(Piece::Variable("${TASKMASTER_PROGRAM}".to_string()))
        }
        ("program_name" | "group_name", _) if names.program.is_some() => words(program),
        ("process_num", Into::Expanded | Into::EnvFilled) if names.program.is_some() => {
            match (format.width, format.zero && format.number && !format.left) {
                (0 | 1, _) => Ok(Piece::Variable("${TASKMASTER_PROCESS_NUM}".to_string())),
                (w, true) => Ok(Piece::Variable(format!("${{TASKMASTER_PROCESS_NUM:0{w}}}"))),
                (_, false) => Err("`%(process_num)` padded with spaces is not carried over".to_string()),
            }
        }
        ("process_num", Into::Literal) if names.program.is_some() => {
            Err("`%(process_num)` differs from process to process, which this key cannot say".to_string())
        }
        (env, Into::Expanded) if env.starts_with("ENV_") && format.width == 0 && !format.number => {
            Ok(Piece::Variable(format!("${{{}}}", &env[4..])))
        }
        (env, _) if env.starts_with("ENV_") => {
            let key = &env[4..];
            let set = names.environ.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            match set.or_else(|| std::env::var(key).ok()) {
                Some(v) => words(&v),
                None => Err(format!("`%({env})s` names a variable this environment lacks")),
            }
        }
        (other, _) => Err(format!("`%({other})` is not a name supervisord fills in here")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names {
        program: Some("web"),
        group: None,
        here: "/etc/sv",
        numprocs: 4,
        host: "box",
        program_is_name: true,
        environ: &[],
    };

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
        assert_eq!(c("%(ENV_HOME)s/x %(numprocs)03d").as_deref(), Ok("${HOME}/x 004"));
        assert_eq!(c("date +%%s; echo $$ 100%").as_deref(), Ok("date +%s; echo $$$$ 100%"));
        assert!(c("%(nope)s").unwrap_err().contains("`%(nope)` is not a name"));
        assert!(c("%(here").unwrap_err().contains("is not closed"));
        assert!(c("%(process_num)3d").unwrap_err().contains("padded with spaces"));
        assert_eq!(c("%(numprocs)3d|%(here)-9s|%(program_name)05s").as_deref(), Ok("  4|/etc/sv  |  web"));
        assert!(c("%(here)070000s").unwrap_err().contains("only `s` and `d`"), "no panic on a huge width");
        assert!(c("%(here)d").unwrap_err().contains("not a number"));
    }

    #[test]
    fn the_group_name_is_the_group_that_lists_the_program() {
        let names = Names { group: Some("pool"), ..NAMES };
        assert_eq!(
            convert("%(group_name)s/%(program_name)s", &names, Into::Expanded).as_deref(),
            Ok("pool/${TASKMASTER_PROGRAM}")
        );
        assert_eq!(convert("%(group_name)s", &NAMES, Into::Literal).as_deref(), Ok("web"));
    }

    #[test]
    fn names_are_filled_in_where_it_takes_text() {
        let c = |v: &str| convert(v, &NAMES, Into::Literal);
        assert_eq!(c("%(program_name)s $1").as_deref(), Ok("web $1"));
        assert!(c("%(process_num)d").unwrap_err().contains("differs from process to process"));
    }
}
