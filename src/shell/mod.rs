//! The control shell on taskmaster's own terminal (or its stdin), and the words of a command line.

pub mod lines;

use crate::control::protocol::Request;

/// Splits a typed line into a request, as a shell splits words. `None` for a blank line.
pub fn request_of(line: &str) -> Result<Option<Request>, String> {
    let words = shell_words::split(line).map_err(|_| format!("unterminated quote in: {line}"))?;
    Ok(words.split_first().map(|(name, args)| Request::new(name, args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_a_shell() {
        assert_eq!(request_of("  "), Ok(None));
        assert_eq!(
            request_of("start web 'a b'"),
            Ok(Some(Request::new("start", &["web".into(), "a b".into()])))
        );
        assert!(request_of("stop 'x").is_err());
    }
}
