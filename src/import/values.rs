//! supervisord's value types (its `datatypes` module), each read as Python reads it and written
//! as taskmaster's configuration says it: a number supervisord takes (`010`, `1_000`) is written
//! plainly, a size in its units of 1024 (`50MB`) in taskmaster's (`50MiB`), a signal by name.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single `_` between them.
pub(crate) fn int(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let parsed = python_digits(digits, 10).then(|| t.replace('_', "").parse::<i64>().ok()).flatten();
    parsed.ok_or_else(|| format!("`{text}` is not a whole number"))
}

/// Digits of `radix` as Python writes them: at least one, a single `_` only between two.
fn python_digits(digits: &str, radix: u32) -> bool {
    !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_digit(radix) || c == '_')
}

/// An `int` from `low` to `high`, and why not.
pub(crate) fn int_within(text: &str, low: i64, high: i64) -> Result<i64, String> {
    let n = int(text)?;
    match (low..=high).contains(&n) {
        true => Ok(n),
        false => Err(format!("{n} is out of taskmaster's range, {low} to {high}")),
    }
}

/// supervisord's booleans.
pub(crate) fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("`{text}` is not a boolean")),
    }
}

/// `50MB` (supervisord's units are 1024) as taskmaster writes it (`50MiB`).
pub(crate) fn byte_size(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let (number, unit) = match lower.len().checked_sub(2).map(|at| lower.split_at(at)) {
        Some((n, "kb")) => (n, "KiB"),
        Some((n, "mb")) => (n, "MiB"),
        Some((n, "gb")) => (n, "GiB"),
        _ => (lower.as_str(), ""),
    };
    let n = int(number)
        .map_err(|_| format!("`{text}` is not a size (a number, or one ending in KB, MB or GB)"))?;
    match n {
        n if n < 0 => Err(format!("`{text}` is a negative size")),
        0 => Ok("0".to_string()),
        n => Ok(format!("{n}{unit}")),
    }
}

/// Python's `int(text, 8)`.
pub(crate) fn octal(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")).unwrap_or(t);
    let parsed =
        python_digits(digits, 8).then(|| u32::from_str_radix(&digits.replace('_', ""), 8).ok()).flatten();
    parsed.ok_or_else(|| format!("`{text}` is not an octal number"))
}

/// `TERM`, `sigterm`, `15`: the signal.
pub(crate) fn signal(text: &str) -> Result<Signal, String> {
    let by_number = int(text).ok().and_then(|n| i32::try_from(n).ok()).map(Signal::try_from);
    let found = match by_number {
        Some(number) => number.ok(),
        None => {
            let upper = text.trim().to_ascii_uppercase();
            let name = upper.strip_prefix("SIG").unwrap_or(&upper);
            // Python's aliases of a signal nix knows by one name.
            let name = match name {
                "IOT" => "ABRT",
                "POLL" => "IO",
                "CLD" => "CHLD",
                other => other,
            };
            Signal::from_str(&format!("SIG{name}")).ok()
        }
    };
    found.ok_or_else(|| format!("`{text}` is not a signal taskmaster sends (real-time signals are not)"))
}

/// `0,2`: exit codes from 0 to 255 (none: every exit is unexpected).
pub(crate) fn exitcodes(text: &str) -> Result<Vec<i64>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',').map(|code| int_within(code, 0, 255)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_python_reads_them() {
        assert_eq!(int(" 010 "), Ok(10));
        assert_eq!(int("1_000"), Ok(1000));
        assert_eq!(int("-3"), Ok(-3));
        for bad in ["", "1__0", "_1", "1_", "0x10", "1.5", "ten"] {
            assert!(int(bad).is_err(), "{bad}");
        }
        assert!(int_within("1001", 1, 1000).unwrap_err().contains("1 to 1000"));
    }

    #[test]
    fn sizes_keep_supervisord_s_units_of_1024() {
        assert_eq!(byte_size("50MB").as_deref(), Ok("50MiB"));
        assert_eq!(byte_size("1kb").as_deref(), Ok("1KiB"));
        assert_eq!(byte_size("2GB").as_deref(), Ok("2GiB"));
        assert_eq!(byte_size("1024").as_deref(), Ok("1024"));
        assert_eq!(byte_size("0MB").as_deref(), Ok("0"));
        assert!(byte_size("1TB").is_err());
        assert!(byte_size("MB").is_err());
    }

    #[test]
    fn octals_booleans_signals_and_exit_codes() {
        assert_eq!(octal("022"), Ok(0o22));
        assert_eq!(octal("0o77"), Ok(0o77));
        assert!(octal("028").is_err());
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("OFF"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(signal("sigint"), Ok(Signal::SIGINT));
        assert_eq!(signal("Hup"), Ok(Signal::SIGHUP));
        assert_eq!(signal("9"), Ok(Signal::SIGKILL));
        assert!(signal("BOGUS").is_err());
        assert!(signal("99").is_err());
        assert_eq!(signal("iot"), Ok(Signal::SIGABRT));
        assert_eq!(signal("POLL"), Ok(Signal::SIGIO));
        assert_eq!(exitcodes("0, 2"), Ok(vec![0, 2]));
        assert!(exitcodes("256").is_err());
    }
}
