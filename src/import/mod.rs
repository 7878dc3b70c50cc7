//! `taskmaster --import FILE.conf [-o OUT.yaml]` (taskmaster(1), SWITCHING FROM SUPERVISORD): a
//! supervisord configuration, with its `[include]` files, written as taskmaster's YAML. Starts
//! nothing.

mod environment;
mod ini;
mod map;
mod percent;
mod yaml;

use map::Source;
use std::path::{Path, PathBuf};

/// More included files than this are a pattern that matches too much.
const MAX_FILES: usize = 10_000;
/// A supervisord file larger than this is not one.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads `from` and what it includes; the YAML and the keys not carried over, or why the files
/// cannot be read.
pub(crate) fn import(from: &Path) -> Result<(String, Vec<String>), String> {
    let shown = from.display().to_string();
    let main = read(from, &shown)?;
    let mut sources = vec![main];
    let includes: Vec<(String, usize)> = sources[0]
        .sections
        .iter()
        .filter(|s| s.name == "include")
        .filter_map(|s| s.get("files").map(|e| (e.value.clone(), e.line)))
        .collect();
    for (files, line) in includes {
        let here = sources[0].dir.to_string_lossy().into_owned();
        let names = percent::Names { program: None, here: &here, numprocs: 1, host: "" };
        let files = percent::convert(&files, &names, percent::Into::Literal)
            .map_err(|why| format!("{shown}:{line}: [include] files: {why}"))?;
        for pattern in files.split_whitespace() {
            let full = match pattern.starts_with('/') {
                true => pattern.to_string(),
                false => format!("{}/{pattern}", glob::Pattern::escape(&here)),
            };
            let mut paths: Vec<PathBuf> = glob::glob(&full)
                .map_err(|e| {
                    format!("{shown}:{line}: [include] files: {pattern} is not a pattern: {}", e.msg)
                })?
                .filter_map(Result::ok)
                .collect();
            paths.sort();
            if sources.len() + paths.len() > MAX_FILES {
                return Err(format!("{shown}:{line}: [include] files: {pattern} matches too many files"));
            }
            for path in paths {
                let shown = match (path.strip_prefix(&sources[0].dir), shown.rfind('/')) {
                    (Ok(rest), Some(slash)) => format!("{}/{}", &shown[..slash], rest.display()),
                    (Ok(rest), None) => rest.display().to_string(),
                    (Err(_), _) => path.display().to_string(),
                };
                sources.push(read(&path, &shown)?);
            }
        }
    }
    check_programs_once(&sources)?;
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let imported = map::map(&sources, &host);
    Ok((imported.yaml, imported.unmapped))
}

/// supervisord refuses a program defined in two files; so does taskmaster, naming both.
fn check_programs_once(sources: &[Source]) -> Result<(), String> {
    let mut seen: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for source in sources {
        for section in source.sections.iter().filter(|s| s.name.starts_with("program:")) {
            let here = format!("{}:{}", source.shown, section.line);
            if let Some(first) = seen.insert(&section.name, here.clone()) {
                return Err(format!("{here}: [{}] is defined twice (first at {first})", section.name));
            }
        }
    }
    Ok(())
}

fn read(path: &Path, shown: &str) -> Result<Source, String> {
    let text = crate::config::read_small_file(path, MAX_FILE).map_err(|why| format!("{shown}: {why}"))?;
    let sections = ini::parse(&text).map_err(|(line, why)| format!("{shown}:{line}: {why}"))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = absolute.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Ok(Source { shown: shown.to_string(), dir, sections })
}
