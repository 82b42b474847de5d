//! The one output layer: every result goes out as text for people (stderr for
//! messages, stdout for tables and reports) or as one JSON document on stdout
//! for scripts (`--format json`), or not at all with `-q`.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Human,
    Json,
}

pub(crate) struct Out {
    pub(crate) mode: Mode,
    pub(crate) quiet: bool,
}

impl Out {
    pub(crate) fn human(&self) -> bool {
        self.mode == Mode::Human
    }

    /// A message for people, on stderr (not in JSON mode or with -q).
    pub(crate) fn info(&self, msg: &str) {
        if !self.quiet && self.human() {
            eprintln!("{msg}");
        }
    }

    /// The JSON document of a result, on stdout.
    pub(crate) fn json(&self, v: &Value) {
        println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialise"));
    }

    pub(crate) fn value(&self, v: &impl Serialize) {
        self.json(&serde_json::to_value(v).expect("results serialise"));
    }

    /// In JSON mode, the result's document; in human mode, `human()`'s text.
    pub(crate) fn either(&self, v: &impl Serialize, human: impl FnOnce()) {
        match self.mode {
            Mode::Json => self.value(v),
            Mode::Human => human(),
        }
    }
}
