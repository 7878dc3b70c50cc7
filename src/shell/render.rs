//! How answers look on a terminal: `status` lines with their state in colour (RUNNING green;
//! STARTING, STOPPING, BACKOFF yellow; FATAL and an unexpected EXITED red). Colour only when the
//! output is a terminal and `NO_COLOR` is not set.

use crate::control::protocol::Response;
use serde_json::Value;
use std::io::IsTerminal;

/// Whether to colour what goes to standard output.
pub fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn color_of(item: &Value) -> Option<&'static str> {
    match item["state"].as_str()? {
        "RUNNING" => Some("32"),
        "STARTING" | "STOPPING" | "BACKOFF" => Some("33"),
        "FATAL" => Some("31"),
        "EXITED" if item["expected"] == false => Some("31"),
        _ => None,
    }
}

/// The text to print for an answer; a status answer gets its states coloured when `color`.
pub fn answer(response: &Response, color: bool) -> String {
    let Some(items) = response.data.as_array().filter(|_| color) else { return response.output.clone() };
    let mut lines: Vec<String> = response.output.lines().map(str::to_string).collect();
    for (line, item) in lines.iter_mut().zip(items) {
        let (Some(name), Some(state), Some(code)) =
            (item["name"].as_str(), item["state"].as_str(), color_of(item))
        else {
            continue;
        };
        // The state is the first word after the name column.
        if let Some(at) = line[name.len()..].find(state).map(|i| i + name.len()) {
            line.replace_range(at..at + state.len(), &format!("\x1b[{code}m{state}\x1b[0m"));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_are_coloured_in_place() {
        let response = Response::ok(
            "web   RUNNING   pid 1\nfix   EXITED    exit status 3\nok    EXITED    exit status 0\nz     STOPPED   Not started",
            json!([
                {"name": "web", "state": "RUNNING", "expected": null},
                {"name": "fix", "state": "EXITED", "expected": false},
                {"name": "ok", "state": "EXITED", "expected": true},
                {"name": "z", "state": "STOPPED", "expected": null},
            ]),
        );
        let text = answer(&response, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "web   \x1b[32mRUNNING\x1b[0m   pid 1");
        assert_eq!(lines[1], "fix   \x1b[31mEXITED\x1b[0m    exit status 3");
        assert_eq!(lines[2], "ok    EXITED    exit status 0");
        assert_eq!(lines[3], "z     STOPPED   Not started");
        assert_eq!(answer(&response, false), response.output);
    }

    #[test]
    fn other_answers_are_left_alone() {
        let response =
            Response::ok("web: started", json!([{"name": "web", "ok": true, "message": "started"}]));
        assert_eq!(answer(&response, true), "web: started");
    }
}
