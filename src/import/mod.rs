//! `taskmaster --import FILE.conf [-o OUT.yaml]` (taskmaster(1), SWITCHING FROM SUPERVISORD): a
//! supervisord configuration, with its `[include]` files, written as taskmaster's YAML. Starts
//! nothing.

mod environment;
mod ini;
mod map;
mod percent;
mod program;
mod shlex;
mod streams;
mod values;
mod yaml;

use map::File;
use std::path::{Path, PathBuf};

/// More included files than this are a pattern that matches too much.
const MAX_FILES: usize = 10_000;
/// A supervisord file larger than this is not one.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads `from` and what it includes; the YAML and what is not carried over, or why the files
/// cannot be read.
pub(crate) fn import(from: &Path) -> Result<(String, Vec<String>), String> {
    let shown = from.display().to_string();
    let text = crate::config::read_small_file(from, MAX_FILE).map_err(|why| format!("{shown}: {why}"))?;
    let mut ini = ini::Ini::default();
    ini.read(&text, 0).map_err(|(line, why)| format!("{shown}:{line}: {why}"))?;
    let main_dir = folder(from);
    let mut files = vec![File { shown: shown.clone(), dir: main_dir.to_string_lossy().into_owned() }];
    let mut warnings = Vec::new();
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    // supervisord reads the main file's `[include]` once, before the files it names.
    let include = ini.section("include").map(|s| s.get("files").cloned().ok_or(s.line));
    match include {
        None => {}
        Some(Err(line)) => {
            return Err(format!("{shown}:{line}: [include] has no `files` (supervisord refuses it)"));
        }
        Some(Ok(entry)) => {
            let names = percent::Names {
                program: None,
                group: None,
                here: &files[0].dir,
                numprocs: 1,
                host: &host,
                program_is_name: true,
                environ: &[],
            };
            let line = entry.line;
            let patterns = percent::convert(&entry.value, &names, percent::Into::Literal)
                .map_err(|why| format!("{shown}:{line}: [include] files: {why}"))?;
            for pattern in patterns.split_whitespace() {
                let paths = matches(&main_dir, pattern)
                    .map_err(|why| format!("{shown}:{line}: [include] files: {pattern} {why}"))?;
                if paths.is_empty() {
                    warnings.push(format!("{shown}:{line}: [include] files: {pattern} matches no file"));
                }
                for path in paths {
                    let shown_path = match (path.strip_prefix(&main_dir), shown.rfind('/')) {
                        (Ok(rest), Some(slash)) => format!("{}/{}", &shown[..slash], rest.display()),
                        (Ok(rest), None) => rest.display().to_string(),
                        (Err(_), _) => path.display().to_string(),
                    };
                    // supervisord skips a file it cannot open; so does the import, saying so. A
                    // file it opens but cannot decode, it refuses with the rest.
                    let text = match crate::config::read_small_file(&path, MAX_FILE) {
                        Ok(text) => text,
                        Err(why) if why.contains("UTF-8") => return Err(format!("{shown_path}: {why}")),
                        Err(why) => {
                            warnings.push(format!("{shown_path}: {why}: skipped, as supervisord skips it"));
                            continue;
                        }
                    };
                    ini.read(&text, files.len())
                        .map_err(|(line, why)| format!("{shown_path}:{line}: {why}"))?;
                    files.push(File { shown: shown_path, dir: folder(&path).to_string_lossy().into_owned() });
                }
            }
        }
    }
    let imported = map::map(&ini, &files, &host);
    warnings.extend(imported.unmapped);
    Ok((imported.yaml, warnings))
}

/// The files `pattern` names from `dir`, sorted, as Python's `glob.glob` finds them: `*` does
/// not match a leading dot, and `**` is `*` (supervisord does not search folders below).
fn matches(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let mut pattern = pattern.to_string();
    while pattern.contains("**") {
        pattern = pattern.replace("**", "*");
    }
    let full = match pattern.starts_with('/') {
        true => pattern,
        false => format!("{}/{pattern}", glob::Pattern::escape(&dir.to_string_lossy())),
    };
    // The glob crate's own `require_literal_leading_dot` also drops what `.*` names (and panics
    // on a name that is not UTF-8, which it otherwise never matches): each part of a path found
    // is held to Python's rule here instead.
    // Parts are compared from the last, `.` left out on both sides (paths found may drop it).
    let parts: Vec<bool> =
        full.split('/').filter(|p| !p.is_empty() && *p != ".").map(|p| p.starts_with('.')).rev().collect();
    let shown_as_python = |path: &PathBuf| {
        let names = path.as_os_str().as_encoded_bytes().split(|b| *b == b'/');
        let hidden = names.filter(|n| !n.is_empty() && *n != b".").map(|n| n.starts_with(b".")).rev();
        hidden.zip(&parts).all(|(hidden, dotted)| !hidden || *dotted)
    };
    let found = glob::glob(&full).map_err(|e| format!("is not a pattern: {}", e.msg))?;
    let mut paths: Vec<PathBuf> =
        found.filter_map(Result::ok).filter(shown_as_python).take(MAX_FILES + 1).collect();
    if paths.len() > MAX_FILES {
        return Err(format!("matches more than {MAX_FILES} files"));
    }
    paths.sort();
    Ok(paths)
}

fn folder(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_python_s_glob_matches() {
        let dir = std::env::temp_dir().join(format!("tm-import-glob-{}", std::process::id()));
        for sub in ["conf.d/deep/deeper", "conf.d/.git"] {
            std::fs::create_dir_all(dir.join(sub)).expect("folders");
        }
        for file in ["conf.d/a.conf", "conf.d/.b.conf", "conf.d/deep/c.conf", "conf.d/deep/deeper/d.conf"] {
            std::fs::write(dir.join(file), "").expect("file");
        }
        let not_utf8 = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"x\xff.conf");
        std::fs::write(dir.join("conf.d").join(not_utf8), "").expect("file");
        let names = |pattern: &str| -> Vec<String> {
            let found = matches(&dir, pattern).expect("pattern");
            found.iter().map(|p| p.strip_prefix(&dir).expect("inside").display().to_string()).collect()
        };
        assert_eq!(
            names("conf.d/*.conf"),
            ["conf.d/a.conf"],
            "no leading dot; a name not UTF-8 is not matched"
        );
        assert_eq!(names("conf.d/../conf.d/a.conf"), ["conf.d/../conf.d/a.conf"]);
        assert_eq!(names("./conf.d/*.conf").len(), 1, "a `.` part");
        assert_eq!(names("conf.d/./*.conf").len(), 1);
        assert_eq!(names("conf.d/**.conf"), ["conf.d/a.conf"], "`**` is `*`");
        assert_eq!(names("conf.d/**/*.conf"), ["conf.d/deep/c.conf"], "one folder down, not two");
        assert_eq!(names("conf.d/.*.conf"), ["conf.d/.b.conf"]);
        assert!(matches(&dir, "conf.d/[").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
