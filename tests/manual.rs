//! The manual cannot drift from the code: every configuration key, command, state, exit status
//! and option the code knows is in `man/taskmaster.1`, and the page passes `mandoc -Tlint`.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

use taskmaster::Exit;
use taskmaster::vocabulary::{
    COMMANDS, CTL_USAGE, CtlExit, DAEMON_KEYS, PROGRAM_KEYS, StateName, TOP_KEYS, USAGE,
};

fn page() -> String {
    std::fs::read_to_string("man/taskmaster.1").expect("man/taskmaster.1")
}

/// The lines of one section (`.Sh NAME` up to the next `.Sh`).
fn section(page: &str, name: &str) -> String {
    let start = page.find(&format!(".Sh {name}\n")).unwrap_or_else(|| panic!("no section {name}"));
    let rest = &page[start + 4..];
    rest[..rest.find("\n.Sh ").unwrap_or(rest.len())].to_string()
}

/// The words that follow `.It` in a section, macros dropped (`.It Ic cmd` gives `cmd`).
fn items(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(".It "))
        .flat_map(|l| l.split([' ', ',']).map(str::to_string).collect::<Vec<_>>())
        .filter(|w| {
            !w.is_empty()
                && !matches!(w.as_str(), "Ic" | "Fl" | "Pa" | "Ev" | "Sy" | "Ta" | "Cm" | "Op" | "Ar")
        })
        .collect()
}

#[test]
fn every_configuration_key_is_documented() {
    let page = page();
    let config = section(&page, "CONFIGURATION");
    let documented = items(&config);
    for key in PROGRAM_KEYS.iter().chain(DAEMON_KEYS) {
        assert!(documented.contains(&key.to_string()), "`{key}` is not documented under CONFIGURATION");
    }
    for key in TOP_KEYS {
        assert!(config.contains(&format!("Ic {key}")), "the top-level key `{key}` is not documented");
    }
}

#[test]
fn every_command_is_documented() {
    let documented = items(&section(&page(), "COMMANDS"));
    for command in COMMANDS {
        assert!(
            documented.contains(&command.name.to_string()),
            "`{}` is not documented under COMMANDS",
            command.name
        );
    }
}

#[test]
fn every_state_is_documented() {
    let states = section(&page(), "PROCESS STATES");
    for state in StateName::ALL {
        assert!(states.contains(&format!(".It {}\n", state.as_str())), "{} is not described", state.as_str());
    }
}

#[test]
fn every_exit_status_is_documented() {
    let exits = section(&page(), "EXIT STATUS");
    let (daemon, client) = exits.split_at(exits.find("Nm taskmasterctl").expect("taskmasterctl's statuses"));
    for code in Exit::ALL {
        assert!(
            daemon.contains(&format!(".It {}\n", code as u8)),
            "taskmaster's exit status {} is not documented",
            code as u8
        );
    }
    for code in CtlExit::ALL {
        assert!(
            client.contains(&format!(".It {}\n", code as u8)),
            "taskmasterctl's exit status {} is not documented",
            code as u8
        );
    }
}

/// The options a usage text lists (`-c, --config FILE` gives `-c` and `--config`).
fn usage_options(usage: &str) -> Vec<String> {
    usage
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split_whitespace().take(3).map(|w| w.trim_end_matches(',').to_string()).collect::<Vec<_>>()
        })
        .filter(|w| w.starts_with('-'))
        .collect()
}

#[test]
fn help_and_the_page_list_the_same_options() {
    let options = section(&page(), "OPTIONS");
    let (daemon, client) =
        options.split_at(options.find(".Ss taskmasterctl").expect("taskmasterctl's options"));
    for (usage, text) in [(USAGE, daemon), (CTL_USAGE, client)] {
        let listed = usage_options(usage);
        assert!(listed.len() >= 4, "{listed:?}");
        for option in &listed {
            // In mdoc, `--config` is written `Fl -config`.
            let mdoc = format!("Fl {}", &option[1..]);
            assert!(text.contains(&mdoc), "`{option}` is in --help but not in the page's OPTIONS");
        }
        for line in text.lines().filter(|l| l.starts_with(".It Fl")) {
            for word in line.split_whitespace().skip(2).step_by(3) {
                let option = format!("-{}", word.trim_end_matches(','));
                assert!(
                    listed.contains(&option) || word == "Fl",
                    "`{option}` is in the page but not in --help"
                );
            }
        }
    }
}

#[test]
fn the_page_passes_mandoc_lint() {
    let out = std::process::Command::new("mandoc")
        .args(["-Tlint", "-W", "warning", "man/taskmaster.1"])
        .output()
        .unwrap_or_else(|e| panic!("mandoc is needed to check the manual (.ci/run installs it): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.trim().is_empty(), "mandoc -Tlint:\n{text}");
}

/// The page as `man` shows it at 80 columns, overstrikes (bold, underline) removed.
fn rendered_lines() -> String {
    let out = std::process::Command::new("mandoc")
        .args(["-Tutf8", "-O", "width=80", "man/taskmaster.1"])
        .output()
        .unwrap_or_else(|e| panic!("mandoc is needed to check the manual: {e}"));
    plain(&out.stdout)
}

/// Text from mandoc's terminal output: each `c BACKSPACE c` overstrike is one `c`.
fn plain(bytes: &[u8]) -> String {
    let mut plain = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '\u{8}' => {
                plain.pop();
            }
            c => plain.push(c),
        }
    }
    plain
}

/// The same with whitespace made single spaces, so that a phrase wrapped across lines is found.
fn rendered() -> String {
    rendered_lines().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_quoted_log_line_renders_as_written() {
    // A word such as `No` or `Pa` inside a macro line is read as a macro, and silently
    // disappears from the rendered page: each quoted line of LOG must come out whole.
    let page = page();
    let log = section(&page, "LOG");
    let shown = rendered();
    let mut quoted = 0;
    for line in log.lines().filter_map(|l| l.strip_prefix(".Ql ")) {
        // Closing punctuation after the quote is written as words of its own.
        let mut words: Vec<&str> = line.split(' ').collect();
        while words.last().is_some_and(|w| w.len() == 1 && ".,;:)".contains(*w)) {
            words.pop();
        }
        let text = words.join(" ").replace("\\&", "");
        assert!(shown.contains(&format!("‘{text}’")), "`{text}` does not render as written");
        quoted += 1;
    }
    assert!(quoted >= 20, "only {quoted} quoted lines in LOG");
}

#[test]
fn the_state_table_fits_80_columns() {
    let text = rendered_lines();
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !(l.contains("from") && l.contains("event") && l.contains(" to")))
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(table.len() > 20, "the table: {table:#?}");
    for row in &table {
        assert!(row.chars().count() <= 80, "wider than 80 columns: {row}");
    }
    // The last column has room (at 80 columns it once got 10 characters), and only it wraps:
    // every continuation line starts where that column does.
    let header = table[0];
    let to = header.rfind(" to").expect("the `to` heading") + 1;
    assert!(80 - to >= 35, "the last column is {} wide:\n{}", 80 - to, table.join("\n"));
    let indent = header.len() - header.trim_start().len();
    for row in &table[1..] {
        let starts = row.len() - row.trim_start().len();
        assert!(
            starts == indent || starts == to,
            "a column other than the last wraps:\n{}",
            table.join("\n")
        );
    }
}

#[test]
fn man_taskmasterctl_finds_the_page_once_installed() {
    let root = std::env::temp_dir().join(format!("tm-man-{}", std::process::id()));
    let out = std::process::Command::new("make")
        .args(["-s", "install-man", "PREFIX=/usr"])
        .arg(format!("DESTDIR={}", root.display()))
        .output()
        .expect("run make");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = root.join("usr/share/man/man1/taskmasterctl.1");
    let shown = std::process::Command::new("mandoc").args(["-Tutf8"]).arg(&page).output().expect("mandoc");
    let text = plain(&shown.stdout);
    assert!(shown.status.success() && text.contains("taskmaster, taskmasterctl"), "{text}");
    let _ = std::fs::remove_dir_all(&root);
}
