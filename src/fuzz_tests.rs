//! Fuzzing with a fixed budget: the configuration parser and the protocol decoder get mangled
//! inputs and must answer every one with a value or an error, never a panic. Deterministic (a
//! seeded xorshift), so a failure is reproducible.

use crate::config::{Context, validate};
use crate::control::command::parse as parse_command;
use crate::control::protocol::{LineBuffer, Request};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to YAML and to our schema, to make mutations likely to reach deep code.
const PIECES: &[&str] = &[
    ":",
    " ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "#",
    "&a",
    "*a",
    "<<: ",
    "!tag ",
    "|\n",
    ">\n",
    "~",
    "null",
    "true",
    "0o",
    "022",
    "089",
    "-1",
    "1e309",
    "9999999999999999999999",
    "umask",
    "cmd",
    "numprocs",
    "env",
    "programs",
    "taskmaster",
    "stopsignal: KILL",
    "exitcodes: [0, 256]",
    "\t",
    "\u{0}",
    "é",
    "---\n",
    "...\n",
];

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut text: Vec<char> = seed.chars().collect();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(text.len() + 1);
        match rng.below(4) {
            0 if !text.is_empty() => {
                let end = (at + rng.below(20)).min(text.len());
                text.drain(at.min(end)..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                for (i, c) in piece.chars().enumerate() {
                    text.insert((at + i).min(text.len()), c);
                }
            }
            2 if !text.is_empty() => {
                let i = rng.below(text.len());
                text[i] = char::from(b' ' + (rng.below(95) as u8));
            }
            _ => {
                let from = rng.below(text.len() + 1);
                let end = (from + rng.below(40)).min(text.len());
                let copy: Vec<char> = text[from..end].to_vec();
                for (i, c) in copy.into_iter().enumerate() {
                    text.insert((at + i).min(text.len()), c);
                }
            }
        }
    }
    text.into_iter().collect()
}

fn iterations() -> usize {
    if std::env::var_os("TASKMASTER_CRASH_HEAVY").is_some_and(|v| v == "1") { 200_000 } else { 5_000 }
}

#[test]
fn the_config_parser_never_panics() {
    let ctx = Context { home: Some("/root".into()), ..Context::for_tests("/tmp") };
    let seeds: Vec<String> = std::fs::read_dir("conf")
        .expect("conf/")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut valid, mut invalid) = (0, 0);
    for i in 0..iterations() {
        let text = mutate(&mut rng, &seeds[i % seeds.len()]);
        match validate(&text, "fuzz.yaml", &ctx) {
            Ok(_) => valid += 1,
            Err(e) => {
                assert!(!e.lines().is_empty());
                invalid += 1;
            }
        }
    }
    eprintln!("[fuzz] config: {valid} valid, {invalid} invalid, no panic");
    assert!(invalid > 0 && valid > 0, "the mutations should reach both outcomes");
}

#[test]
fn the_protocol_decoder_and_the_command_parser_never_panic() {
    let seeds = [
        r#"{"command": "status", "args": ["web:*"]}"#,
        r#"{"command": "signal", "args": ["USR1", "a"]}"#,
        r#"{"command": "reload", "args": ["--dry-run"]}"#,
        r#"{"args": [], "command": "start"}"#,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buffer = LineBuffer::default();
    for i in 0..iterations() * 4 {
        let line = mutate(&mut rng, seeds[i % seeds.len()]);
        if let Ok(request) = Request::from_line(line.as_bytes()) {
            let _ = parse_command(&request.command, &request.args);
        }
        let cut = rng.below(line.len() + 1);
        let _ = buffer.push(&line.as_bytes()[..cut]);
        let _ = buffer.push(b"\n");
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if let Some((name, args)) = words.split_first() {
            let _ = parse_command(name, args);
        }
    }
}
