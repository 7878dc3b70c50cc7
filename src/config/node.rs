//! The YAML document as a plain tree, plus the two things serde_yaml's `Value` cannot give us:
//! where a key sits in the file, and the exact text a scalar was written with.
//!
//! `Node` keeps mappings as ordered pairs so that a duplicated program name is still visible (the
//! YAML crate's own maps would reject or collapse it). Positions are recovered on demand by
//! re-parsing the text with a seed that raises an error at the wanted node: the YAML crate stamps
//! every error raised inside a visitor with that node's line and column. This runs once per
//! reported problem, never on the happy path. Nothing here knows the taskmaster schema.

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A YAML value. Keys are kept as the text they were written with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// How the value is described in "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> String {
        match self {
            Node::Null => "nothing (null)".to_string(),
            Node::Bool(b) => format!("`{b}`"),
            Node::Int(i) => format!("`{i}`"),
            Node::Float(f) => format!("`{f}`"),
            Node::Str(s) => format!("the text {s:?}"),
            Node::Seq(_) => "a list".to_string(),
            Node::Map(_) => "a mapping".to_string(),
        }
    }
}

/// One step of a path into the document: the `nth` occurrence (from 0) of a key in a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seg {
    pub(crate) name: String,
    pub(crate) nth: usize,
}

impl Seg {
    pub(crate) fn key(name: &str) -> Seg {
        Seg { name: name.to_string(), nth: 0 }
    }
}

/// Where something is in the file, 1-based as editors count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Deeper than this, a document is refused before it is parsed: a configuration nests four or
/// five levels, and the YAML parser's time grows with the square of the depth (a 120 KB file of
/// brackets held it for seconds).
pub(crate) const MAX_DEPTH: usize = 64;

/// Where the nesting first goes past `MAX_DEPTH`, counting flow collections (`[`, `{`) and the
/// `- ` of block sequences opened on one line. Linear, and blind to quotes: a quoted string of
/// sixty brackets is not a configuration either.
pub(crate) fn too_deep(text: &str) -> Option<Position> {
    let mut flow = 0usize;
    for (line_no, line) in text.lines().enumerate() {
        let rest = line.trim_start();
        let mut dashes = 0;
        let mut chain = rest;
        while let Some(after) = chain.strip_prefix("- ") {
            dashes += 1;
            chain = after.trim_start();
        }
        for (col, c) in line.char_indices() {
            match c {
                '[' | '{' => flow += 1,
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => continue,
            }
            if flow + dashes > MAX_DEPTH {
                return Some(Position { line: line_no + 1, column: col + 1 });
            }
        }
        if dashes > MAX_DEPTH {
            return Some(Position { line: line_no + 1, column: line.len() - rest.len() + 1 });
        }
    }
    None
}

/// The text without the byte order mark an editor may put first: editors do not count it in
/// a column, and the YAML parser took a file that opens with it and a flow mapping for two
/// documents.
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses the whole text into a tree. A syntax error comes back with its position.
pub(crate) fn parse(text: &str) -> Result<Node, (String, Option<Position>)> {
    let text = without_bom(text);
    if let Some(at) = too_deep(text) {
        return Err((format!("nested more than {MAX_DEPTH} levels deep"), Some(at)));
    }
    serde_yaml::from_str::<Node>(text).map_err(|e| {
        let pos = e.location().map(|l| Position { line: l.line(), column: l.column() });
        (strip_location(&e.to_string()), pos)
    })
}

/// The YAML crate appends " at line L column C" to its messages; we print positions ourselves.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => {
            let rest = &message[i..];
            let tail = rest.find(", ").map(|j| &rest[j..]).unwrap_or("");
            format!("{}{}", &message[..i], tail)
        }
        None => message.to_string(),
    }
}

/// Finds where the node at `path` starts (for a key: the key itself). When the path does not
/// exist as written (a merged key, a flow collection the walk cannot enter), the nearest ancestor
/// that does exist is returned.
pub(crate) fn locate(text: &str, path: &[Seg]) -> Option<Position> {
    (1..=path.len()).rev().find_map(|len| locate_exact(text, &path[..len]))
}

const FOUND: &str = "\u{1}taskmaster-locator\u{1}";

fn locate_exact(text: &str, path: &[Seg]) -> Option<Position> {
    match (Walk { path }).deserialize(serde_yaml::Deserializer::from_str(without_bom(text))) {
        Err(e) if e.to_string().contains(FOUND) => {
            e.location().map(|l| Position { line: l.line(), column: l.column() })
        }
        _ => None,
    }
}

/// Follows `path` through the document and raises `FOUND` from inside the visitor of the node it
/// ends on, so the error carries that node's position.
struct Walk<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg { name, nth }, rest)) = self.path.split_first() else {
            return drain_map(map);
        };
        let mut seen = 0;
        loop {
            let probe = KeyProbe { name, last: rest.is_empty() && seen == *nth };
            let Some(hit) = map.next_key_seed(probe)? else { break };
            if hit && seen == *nth {
                return map.next_value_seed(Walk { path: rest });
            }
            seen += usize::from(hit);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    // A list where the path wanted a mapping: the path stops here.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        drain_seq(seq)
    }

    // A scalar where the path wanted to go deeper: the path stops here and the caller falls
    // back to the nearest ancestor.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads one mapping key; raises `FOUND` at it when it is the last step of the path.
struct KeyProbe<'a> {
    name: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        match (key == self.name, self.last) {
            (true, true) => Err(E::custom(FOUND)),
            (hit, _) => Ok(hit),
        }
    }
}

/// The source text of the scalars at the given paths (`None` in a path matches any key), for the
/// values whose meaning depends on how they were written: `umask: 0o22` and `umask: 18` are the
/// same number to YAML, but only the first is the octal umask 022. One pass over the document. A
/// path that leads to a non-scalar ends the pass early; the caller then falls back to the tree.
pub(crate) fn scalar_texts(text: &str, patterns: &[&[Option<&str>]]) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let seed = Texts { patterns, prefix: Vec::new(), found: &mut found };
    let _ = seed.deserialize(serde_yaml::Deserializer::from_str(without_bom(text)));
    found
}

/// Whether a scalar YAML typed (a number or a boolean) is at one of `patterns`' paths in the
/// tree: the values whose text `scalar_texts` would give that the tree does not.
pub(crate) fn typed_scalar_at(root: &Node, patterns: &[&[Option<&str>]]) -> bool {
    fn walk(node: &Node, pattern: &[Option<&str>]) -> bool {
        match (pattern.split_first(), node) {
            (None, node) => matches!(node, Node::Bool(_) | Node::Int(_) | Node::Float(_)),
            (Some((want, rest)), Node::Map(pairs)) => {
                pairs.iter().any(|(key, value)| want.is_none_or(|w| w == key) && walk(value, rest))
            }
            (Some(_), _) => false,
        }
    }
    patterns.iter().any(|pattern| walk(root, pattern))
}

struct Texts<'a, 'p> {
    patterns: &'a [&'a [Option<&'p str>]],
    prefix: Vec<String>,
    found: &'a mut Vec<(Vec<String>, String)>,
}

impl Texts<'_, '_> {
    fn matches(&self, path: &[String], whole: bool) -> bool {
        self.patterns.iter().any(|p| {
            (if whole { p.len() == path.len() } else { p.len() > path.len() })
                && path.iter().zip(p.iter()).all(|(k, want)| want.is_none_or(|w| w == k))
        })
    }
}

impl<'de> DeserializeSeed<'de> for Texts<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Texts<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<KeyText>()? {
            let mut path = self.prefix.clone();
            path.push(key.0);
            if self.matches(&path, true) {
                let value = map.next_value::<KeyText>()?;
                self.found.push((path, value.0));
            } else if self.matches(&path, false) {
                let inner = Texts { patterns: self.patterns, prefix: path, found: self.found };
                map.next_value_seed(inner)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Any scalar, as the text it was written with.
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyText, E> {
                Ok(KeyText(s.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        i128::try_from(v).map(Node::Int).map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut pairs = Vec::new();
        while let Some(KeyText(key)) = map.next_key::<KeyText>()? {
            pairs.push((key, map.next_value::<Node>()?));
        }
        Ok(Node::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
taskmaster:
  logfile: x.log
programs:
  web: {cmd: a, umask: 0o22}
  nginx:
    cmd: b
    # a comment
    umask: 022
    exitcodes: [0, 300]
  nginx:
    cmd: c
";

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn keeps_duplicate_keys_in_order() {
        let Node::Map(top) = parse(DOC).unwrap() else { panic!("not a map") };
        let Node::Map(programs) = &top[1].1 else { panic!("not a map") };
        let names: Vec<_> = programs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["web", "nginx", "nginx"]);
    }

    #[test]
    fn scalars_keep_their_yaml_types() {
        let node = parse("a: 022\nb: 0o22\nc: 1.5\nd: yes\ne: ~\nf: 42\ng: true\n").unwrap();
        let Node::Map(pairs) = node else { panic!("not a map") };
        let values: Vec<_> = pairs.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            [
                Node::Str("022".into()),
                Node::Int(18),
                Node::Float(1.5),
                Node::Str("yes".into()),
                Node::Null,
                Node::Int(42),
                Node::Bool(true)
            ]
        );
    }

    #[test]
    fn locates_keys_and_nth_duplicates() {
        let path = |segs: &[Seg]| locate(DOC, segs);
        let k = Seg::key;
        assert_eq!(path(&[k("taskmaster"), k("logfile")]), at(2, 3));
        assert_eq!(path(&[k("programs"), k("nginx"), k("umask")]), at(8, 5));
        let second = Seg { name: "nginx".into(), nth: 1 };
        assert_eq!(path(&[k("programs"), second]), at(10, 3));
        assert_eq!(path(&[k("programs"), k("web"), k("umask")]), at(4, 17));
    }

    #[test]
    fn a_missing_path_falls_back_to_its_nearest_ancestor() {
        assert_eq!(locate(DOC, &[Seg::key("programs"), Seg::key("nginx"), Seg::key("nope")]), at(5, 3));
        assert_eq!(locate(DOC, &[Seg::key("nope")]), None);
    }

    #[test]
    fn scalar_texts_are_the_source_text() {
        let texts = scalar_texts(DOC, &[&[Some("programs"), None, Some("umask")]]);
        let got: Vec<_> = texts.iter().map(|(p, t)| (p.join("."), t.as_str())).collect();
        assert_eq!(
            got,
            [("programs.web.umask".to_string(), "0o22"), ("programs.nginx.umask".to_string(), "022")]
        );
    }

    #[test]
    fn typed_scalars_are_found_where_the_patterns_lead() {
        let umask: &[&[Option<&str>]] = &[&[Some("programs"), None, Some("umask")]];
        let env: &[&[Option<&str>]] = &[&[Some("programs"), None, Some("env"), None]];
        assert!(typed_scalar_at(&parse(DOC).unwrap(), umask), "web's umask 0o22 is a number");
        let strings = parse("programs:\n  a: {umask: '022', env: {A: x, B: ~}}\n").unwrap();
        assert!(!typed_scalar_at(&strings, umask));
        assert!(!typed_scalar_at(&strings, env));
        let numbers = parse("programs:\n  a: {cmd: x}\n  b: {env: {A: x, PORT: 8080}}\n").unwrap();
        assert!(typed_scalar_at(&numbers, env));
        assert!(!typed_scalar_at(&numbers, umask));
        assert!(!typed_scalar_at(&parse("programs: [1]\n").unwrap(), umask));
    }

    #[test]
    fn a_byte_order_mark_first_is_not_part_of_the_document() {
        let text = "\u{feff}taskmaster: {logfile: x.log}\nprograms:\n  web: {umask: 0o22}\n";
        let Node::Map(top) = parse(text).expect("one document") else { panic!("not a map") };
        assert_eq!(top.len(), 2);
        assert_eq!(locate(text, &[Seg::key("taskmaster"), Seg::key("logfile")]), at(1, 14));
        let texts = scalar_texts(text, &[&[Some("programs"), None, Some("umask")]]);
        assert_eq!(
            texts,
            [(vec!["programs".to_string(), "web".to_string(), "umask".to_string()], "0o22".to_string())]
        );
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let (message, pos) = parse("a: [1\nb: 2\n").unwrap_err();
        assert!(message.contains("did not find expected ','"), "{message}");
        assert_eq!(pos, at(2, 2));
    }
}
