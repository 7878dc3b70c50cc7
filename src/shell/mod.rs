//! The control shell on taskmaster's own terminal (or its stdin): who types (`Typist`), the line
//! editor, completion, and the session both shells share.

pub(crate) mod complete;
pub(crate) mod editor;
pub(crate) mod lines;
pub(crate) mod session;

use crate::logging::Console;
use editor::{Editor, Typed};
use lines::LineReader;
use std::sync::Arc;

/// Who types commands at taskmaster, if anyone.
pub(crate) enum Typist {
    /// `--no-shell`: stdin is not read.
    Nobody,
    /// Lines from a pipe or a file (or a terminal the editor could not take); a console to
    /// show the prompt on when a person reads the output.
    Lines { reader: LineReader, prompt: Option<Arc<dyn Console>> },
    /// A person at a terminal, with the line editor.
    Editor(Editor),
}

impl Typist {
    /// Whether stdin is still read.
    pub(crate) fn is_reading(&self) -> bool {
        match self {
            Typist::Nobody => false,
            Typist::Lines { reader, .. } => !reader.is_eof(),
            Typist::Editor(_) => true,
        }
    }

    /// A person is at a terminal (so Ctrl-C clears the line rather than stopping taskmaster).
    pub(crate) fn is_interactive(&self) -> bool {
        match self {
            Typist::Nobody => false,
            Typist::Lines { prompt, .. } => prompt.is_some(),
            Typist::Editor(_) => true,
        }
    }

    /// A person at a terminal with the line editor (who can attach to a process).
    pub(crate) fn is_editor(&self) -> bool {
        matches!(self, Typist::Editor(editor) if !editor.is_gone())
    }

    /// stdin has bytes (or cannot be watched, and is read a budget a turn).
    pub(crate) fn on_readable(&mut self) -> Vec<Typed> {
        match self {
            Typist::Nobody => Vec::new(),
            Typist::Lines { reader, .. } => reader.read(),
            Typist::Editor(editor) => editor.on_readable(),
        }
    }

    /// stdin was left with input to read now (see `LineReader::has_more`).
    pub(crate) fn has_more(&self) -> bool {
        match self {
            Typist::Lines { reader, .. } => reader.has_more(),
            Typist::Nobody | Typist::Editor(_) => false,
        }
    }

    /// Nothing waits for an answer: show the prompt; returns what was typed meanwhile.
    pub(crate) fn prompt(&mut self) -> Vec<Typed> {
        match self {
            Typist::Nobody => Vec::new(),
            Typist::Lines { reader, prompt } => {
                if let Some(console) = prompt.as_ref().filter(|_| !reader.is_eof()) {
                    console.prompt("taskmaster> ");
                }
                Vec::new()
            }
            Typist::Editor(editor) => editor.prompt(),
        }
    }

    pub(crate) fn clear_line(&self) {
        if let Typist::Editor(editor) = self {
            editor.clear_line();
        }
    }

    /// The window changed size; returns what was typed meanwhile.
    pub(crate) fn resized(&mut self) -> Vec<Typed> {
        match self {
            Typist::Editor(editor) => editor.resized(),
            Typist::Nobody | Typist::Lines { .. } => Vec::new(),
        }
    }

    /// taskmaster goes on after a stop; returns what was typed meanwhile.
    pub(crate) fn continued(&mut self) -> Vec<Typed> {
        match self {
            Typist::Editor(editor) => editor.continued(),
            Typist::Nobody | Typist::Lines { .. } => Vec::new(),
        }
    }

    /// The shell's terminal belongs to another job (taskmaster runs in the background).
    pub(crate) fn in_background(&self) -> bool {
        match self {
            Typist::Editor(editor) => !editor.is_gone() && !crate::sys::tty::is_foreground(),
            Typist::Nobody | Typist::Lines { .. } => false,
        }
    }

    /// The history file moved (a reload changed it).
    pub(crate) fn set_history(&mut self, path: Option<std::path::PathBuf>) {
        if let Typist::Editor(editor) = self {
            editor.set_history(path);
        }
    }

    /// The terminal was closed: stop using it.
    pub(crate) fn hang_up(&mut self) {
        match self {
            Typist::Editor(editor) => editor.hang_up(),
            Typist::Nobody | Typist::Lines { .. } => *self = Typist::Nobody,
        }
    }
}
