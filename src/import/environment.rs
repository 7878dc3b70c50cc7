//! supervisord's `environment = KEY=value,KEY2="value 2"`, read as it reads it: names filled in
//! first, then cut by its non-POSIX lexer into `KEY = value` triples, each followed by one word
//! it skips (meant to be the comma), each value's quotes stripped.

use super::percent::{Into, Names, Piece, join, pieces};
use super::shlex::words;

/// Stands for a variable while the lexer runs: private-use characters it takes as a word.
const OPEN: char = '\u{e000}';
const CLOSE: char = '\u{e001}';

/// One `KEY=value`: the value as taskmaster expands it, and as text (its variables as written).
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) text: String,
}

/// The pairs in the order first written, a key written twice keeping its place and its last
/// value; `Err` where supervisord refuses the value. supervisord fills in `%(ENV_X)s` before it
/// reads the pairs, so here they are filled in too.
pub(crate) fn environment(value: &str, names: &Names) -> Result<Vec<Pair>, String> {
    let cut = pieces(value, names, Into::EnvFilled)?;
    let mut variables = Vec::new();
    let mut marked = String::new();
    for piece in cut {
        match piece {
            Piece::Text(t) => marked.push_str(&t),
            Piece::Variable(v) => {
                marked.push_str(&format!("{OPEN}{}{CLOSE}", variables.len()));
                variables.push(v);
            }
        }
    }
    let words = words(&marked, |c| c == OPEN || c == CLOSE)
        .map_err(|why| format!("supervisord refuses it: {why} in `{value}`"))?;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for triple in words.chunks(4) {
        let [key, equals, v, ..] = triple else {
            return Err(format!("supervisord refuses it: `{value}` ends in the middle of a KEY=value pair"));
        };
        if equals != "=" {
            return Err(format!("supervisord refuses it: `{key}` is not followed by `=` in `{value}`"));
        }
        let key = restore(key, &variables).1;
        let (value, text) = restore(v.trim_matches(['\'', '"']), &variables);
        match index.get(&key) {
            Some(&i) => (pairs[i].value, pairs[i].text) = (value, text),
            None => {
                index.insert(key.clone(), pairs.len());
                pairs.push(Pair { key, value, text });
            }
        }
    }
    Ok(pairs)
}

/// `word` with its marks back to the variables they stand for: its text's `$` doubled, and not.
fn restore(word: &str, variables: &[String]) -> (String, String) {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(at) = rest.find(OPEN) {
        out.push(Piece::Text(rest[..at].to_string()));
        let after = &rest[at + OPEN.len_utf8()..];
        let end = after.find(CLOSE).unwrap_or(after.len());
        let variable = after[..end].parse::<usize>().ok().and_then(|i| variables.get(i));
        out.push(Piece::Variable(variable.cloned().unwrap_or_default()));
        rest = after.get(end + CLOSE.len_utf8()..).unwrap_or("");
    }
    out.push(Piece::Text(rest.to_string()));
    let text = out.iter().map(|p| match p {
        Piece::Text(t) | Piece::Variable(t) => t.as_str(),
    });
    (join(&out), text.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names {
        program: Some("w"),
        group: None,
        here: "/etc/sv",
        numprocs: 1,
        host: "box",
        program_is_name: true,
        environ: &[],
    };

    fn pairs(value: &str) -> Vec<(String, String)> {
        environment(value, &NAMES).expect("pairs").into_iter().map(|p| (p.key, p.value)).collect()
    }

    fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_reads_as_supervisord_reads_it() {
        assert_eq!(
            pairs("A=1, B=\"two, three\",C='x y',PATH=\"/opt/bin:%(ENV_PATH)s\",N=%(process_num)02d"),
            expect(&[
                ("A", "1"),
                ("B", "two, three"),
                ("C", "x y"),
                (
                    "PATH",
                    format!("/opt/bin:{}", std::env::var("PATH").unwrap_or_default().replace('$', "$$"))
                        .as_str()
                ),
                ("N", "${TASKMASTER_PROCESS_NUM:02}")
            ])
        );
        // What the lexer makes of text a shell would read otherwise, as supervisord does.
        assert_eq!(pairs("D=$x"), expect(&[("D", "$$")]));
        assert_eq!(pairs("A=\"x\"y B=2"), expect(&[("A", "x"), ("B", "2")]), "`y` is skipped as the comma");
        assert!(environment("A=\"x\"y,B=2", &NAMES).is_err());
        assert_eq!(pairs("A=1,A=2,B=%(here)s"), expect(&[("A", "2"), ("B", "/etc/sv")]));
        assert_eq!(pairs("A='\\n'"), expect(&[("A", "\\n")]), "no escapes inside quotes");
    }

    #[test]
    fn what_supervisord_refuses_is_said() {
        for bad in ["A", "A=1,B", "A=x*y", "A B=1", "A='x"] {
            let why = environment(bad, &NAMES).unwrap_err();
            assert!(why.starts_with("supervisord refuses it"), "{bad}: {why}");
        }
    }
}
