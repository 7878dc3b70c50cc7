//! supervisord's `environment = KEY=value,KEY2="value 2"`, read as its `shlex` lexer reads it.

use super::percent::{Into, Names, convert};

/// `KEY=value,KEY2="value 2"` as supervisord reads it (values may be quoted), each value
/// converted; `Err` when it is not pairs.
pub(crate) fn environment(value: &str, names: &Names) -> Result<Vec<(String, String, usize)>, String> {
    let mut pairs = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("`{value}` is not KEY=value pairs"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        while let Some(&c) = chars.peek() {
            match c {
                '"' | '\'' => {
                    chars.next();
                    while let Some(q) = chars.next() {
                        match q {
                            q if q == c => break,
                            '\\' if c == '"' => raw.extend(chars.next()),
                            q => raw.push(q),
                        }
                    }
                }
                ',' => break,
                c if c.is_whitespace() => break,
                c => {
                    raw.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key, convert(&raw, names, Into::Expanded)?, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names { program: Some("w"), here: "/etc/sv", numprocs: 1, host: "box" };

    #[test]
    fn environment_reads_as_supervisord_reads_it() {
        let env = environment("A=1, B=\"two, three\",C='x y',PATH=\"/opt/bin:%(ENV_PATH)s\",D=$x", &NAMES)
            .expect("pairs");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            env,
            [("A", "1"), ("B", "two, three"), ("C", "x y"), ("PATH", "/opt/bin:${PATH}"), ("D", "$$x")]
        );
        assert!(environment("A", &NAMES).is_err());
    }
}
