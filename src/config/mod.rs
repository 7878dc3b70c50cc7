//! The configuration: reading a file, validating all of it, and the typed result. The only
//! impure part is `load` (it reads the file and the environment); the rest is pure.

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod checks;
pub(crate) mod diff;
mod error;
pub(crate) mod expand;
pub(crate) mod node;
pub(crate) mod output;
pub(crate) mod per_process;
pub(crate) mod raw;
mod render;
pub(crate) mod rlimits;
pub(crate) mod spec;
mod validate;

pub(crate) use error::{ConfigError, nearest};
pub(crate) use render::render;
pub(crate) use spec::*;
pub(crate) use validate::{Context, Purpose, validate};
pub(crate) use validate::{private_socket_dir, validate_daemon};

use std::path::{Path, PathBuf};

/// Where taskmaster looks for its configuration when `-c` is not given, in order.
pub(crate) const DEFAULT_PATHS: &[&str] = &["taskmaster.yaml", "/etc/taskmaster/taskmaster.yaml"];

/// The first default configuration file that exists.
pub(crate) fn find_default() -> Option<PathBuf> {
    DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists())
}

/// What to say when no configuration file was named and none of the defaults exists.
pub(crate) fn no_default() -> String {
    format!(
        "no configuration file: neither ./{} nor {} exists; name one with -c FILE",
        DEFAULT_PATHS[0], DEFAULT_PATHS[1]
    )
}

impl Context {
    /// The context of this process for a config file at `file`.
    pub(crate) fn for_file(file: &Path, purpose: Purpose) -> Context {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let config_dir = absolute.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Context {
            config_dir,
            home: var("HOME"),
            runtime_dir: var("XDG_RUNTIME_DIR"),
            uid: nix::unistd::getuid().as_raw(),
            accounts: accounts::Accounts::System,
            purpose,
            hard_limit: crate::sys::limits::hard_limit,
            environment: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }
}

/// Reads and validates the file at `path`, to run it.
pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    load_for(path, Purpose::Run)
}

/// Reads and validates the file at `path` for `purpose`.
pub(crate) fn load_for(path: &Path, purpose: Purpose) -> Result<Config, ConfigError> {
    let text = read(path)?;
    validate(&text, &path.display().to_string(), &Context::for_file(path, purpose))
}

/// Reads and validates only the `taskmaster` section of the file at `path`; `Err` when that
/// section itself cannot be read.
pub(crate) fn load_daemon(path: &Path) -> Result<DaemonSpec, ConfigError> {
    let text = read(path)?;
    validate_daemon(&text, &path.display().to_string(), &Context::for_file(path, Purpose::Connect))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| {
        ConfigError::whole(&shown, format!("cannot read the file: {}", describe_io(&e)), None)
    })?;
    String::from_utf8(text).map_err(|e| ConfigError::whole(&shown, format!("is not UTF-8 text ({e})"), None))
}

/// An I/O error as a person would say it: "No such file or directory", without "(os error 2)".
pub(crate) fn describe_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

/// The text of a file that is part of a configuration (an included file, an env file): only a
/// regular file of at most `max` bytes. Opened without waiting, so that a FIFO or a device put
/// in its place is refused instead of holding taskmaster (one thread) or filling its memory.
pub(crate) fn read_small_file(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| describe_io(&e))?;
    let meta = file.metadata().map_err(|e| describe_io(&e))?;
    if meta.is_dir() {
        return Err("is a folder, not a file".to_string());
    }
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| describe_io(&e))?;
    if bytes.len() as u64 > max {
        return Err(format!("is larger than {} KiB", max / 1024));
    }
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text ({e})"))
}
