//! A real terminal for the shell tests: a private tmux server (its own socket) running one
//! command in one pane. Keys go in with send-keys, the screen comes back with capture-pane.

use super::{PATIENCE, wait_until};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Tmux {
    server: String,
}

impl Tmux {
    /// Starts `command` (run by sh) in a 120x40 terminal.
    pub fn start(command: &str) -> Tmux {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let server = format!("tm-test-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let tmux = Tmux { server };
        let ok = tmux
            .raw(&["new-session", "-d", "-x", "120", "-y", "40", "-s", "t", command])
            .unwrap_or_else(|e| panic!("tmux is needed for the shell tests (.ci/run installs it): {e}"));
        assert!(ok, "tmux could not start `{command}`");
        tmux
    }

    fn raw(&self, args: &[&str]) -> std::io::Result<bool> {
        let status = Command::new("tmux")
            .args(["-L", &self.server, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .status()?;
        Ok(status.success())
    }

    /// Sends keys by tmux's names (`Enter`, `Tab`, `C-c`, `Up`) or as text with `-l`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.raw(&args).unwrap_or(false), "send-keys {keys:?}");
    }

    /// Types text literally.
    pub fn text(&self, text: &str) {
        assert!(self.raw(&["send-keys", "-t", "t", "-l", text]).unwrap_or(false), "type {text:?}");
    }

    /// Pastes `text` as a terminal does: all at once.
    pub fn paste(&self, text: impl AsRef<[u8]>) {
        let file = std::env::temp_dir().join(format!("{}.paste", self.server));
        std::fs::write(&file, text).expect("write the paste");
        let path = file.to_str().expect("utf-8");
        assert!(self.raw(&["load-buffer", path]).unwrap_or(false), "load-buffer");
        let _ = std::fs::remove_file(&file);
        assert!(self.raw(&["paste-buffer", "-t", "t"]).unwrap_or(false), "paste-buffer");
    }

    /// The visible screen, lines joined, trailing blanks trimmed; with `escapes`, colours kept.
    pub fn screen_with(&self, escapes: bool) -> String {
        let mut args = vec!["-L", self.server.as_str(), "-f", "/dev/null", "capture-pane", "-p", "-t", "t"];
        if escapes {
            args.push("-e");
        }
        let out = Command::new("tmux").args(&args).env_remove("TMUX").output().expect("capture-pane");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_end().to_string()
    }

    pub fn screen(&self) -> String {
        self.screen_with(false)
    }

    /// Waits until the screen satisfies `check`; the panic shows the screen.
    pub fn wait(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if start.elapsed() > PATIENCE {
                panic!("gave up waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait(&format!("`{text}` on the screen"), |s| s.contains(text))
    }

    /// The last non-empty line of the screen (where the prompt is).
    pub fn last_line(&self) -> String {
        self.screen().lines().last().unwrap_or_default().to_string()
    }

    pub fn resize(&self, columns: u16) {
        let _ = self.raw(&["resize-window", "-t", "t", "-x", &columns.to_string()]);
    }

    /// Gives the window a new size, as a user resizing the terminal does.
    pub fn resize_to(&self, columns: u16, rows: u16) {
        let _ = self.raw(&["resize-window", "-t", "t", "-x", &columns.to_string(), "-y", &rows.to_string()]);
    }

    /// The tmux server's pid: stopping it stands for a terminal that stops reading.
    pub fn server_pid(&self) -> i32 {
        self.display("#{pid}").parse().expect("a pid")
    }

    /// The pane's terminal device.
    pub fn pane_tty(&self) -> String {
        self.display("#{pane_tty}")
    }

    /// A tmux format about the pane (`#{alternate_on}`, `#{mouse_any_flag}`).
    pub fn format(&self, format: &str) -> String {
        self.display(format)
    }

    fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.server, "-f", "/dev/null", "display-message", "-p", "-t", "t", format])
            .env_remove("TMUX")
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether the pane's command still runs.
    pub fn alive(&self) -> bool {
        self.raw(&["has-session", "-t", "t"]).unwrap_or(false)
    }

    pub fn wait_gone(&self) {
        wait_until("the terminal's command to end", || (!self.alive()).then_some(()));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.raw(&["kill-server"]);
    }
}
