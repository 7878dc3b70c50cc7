//! A program's `rlimits` (taskmaster(1), the `rlimits` key): resource limits by the names
//! `ulimit` gives them, set in the child before it runs the program.

use std::collections::BTreeMap;

/// A resource a program's limit may be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Limit {
    Nofile,
    Nproc,
    Core,
    Cpu,
    Fsize,
    Memlock,
    As,
    Stack,
}

/// No limit (RLIM_INFINITY).
pub(crate) const UNLIMITED: u64 = u64::MAX;

/// Each limit set, soft and hard alike.
pub(crate) type Rlimits = BTreeMap<Limit, u64>;

impl Limit {
    pub(crate) const ALL: [Limit; 8] = [
        Limit::Nofile,
        Limit::Nproc,
        Limit::Core,
        Limit::Cpu,
        Limit::Fsize,
        Limit::Memlock,
        Limit::As,
        Limit::Stack,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Limit::Nofile => "nofile",
            Limit::Nproc => "nproc",
            Limit::Core => "core",
            Limit::Cpu => "cpu",
            Limit::Fsize => "fsize",
            Limit::Memlock => "memlock",
            Limit::As => "as",
            Limit::Stack => "stack",
        }
    }

    pub(crate) fn named(name: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Counted in bytes (units allowed), not in files, processes or seconds.
    pub(crate) fn is_size(self) -> bool {
        match self {
            Limit::Core | Limit::Fsize | Limit::Memlock | Limit::As | Limit::Stack => true,
            Limit::Nofile | Limit::Nproc | Limit::Cpu => false,
        }
    }
}

/// `4096` or `unlimited`, as `--check` prints it.
pub(crate) fn shown(value: u64) -> String {
    match value {
        UNLIMITED => "unlimited".to_string(),
        n => n.to_string(),
    }
}
