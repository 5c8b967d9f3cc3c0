//! Every figure of a tier with its formula, for `--explain`: each is put here as it is
//! computed, so the explanation cannot drift from the computation.

use serde::Serialize;

/// One figure of a tier: its value, unit and how it was computed.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub formula: String,
}

#[derive(Default)]
pub struct Ledger(Vec<Line>);

impl Ledger {
    /// Records a figure and returns its value.
    pub fn put(&mut self, name: &str, value: f64, unit: &'static str, formula: String) -> f64 {
        self.0.push(Line { name: name.to_owned(), value, unit, formula });
        value
    }

    /// The value of the figure recorded last under `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.0.iter().rev().find(|line| line.name == name).map(|line| line.value)
    }

    pub fn into_lines(self) -> Vec<Line> {
        self.0
    }
}
