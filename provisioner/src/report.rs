//! What happened to each resource: shown as it happens (a spinner per step on a terminal, one
//! plain line per resource otherwise, on stderr) and collected into a report that is printed at
//! the end as text or JSON (on stdout).

use std::fmt;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// The kind column: as wide as the longest kind, "websocket invoke permission" (a test checks
/// every kind fits), so that names and outcomes line up.
pub const KIND_WIDTH: usize = 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
    Absent,
    /// `destroy --keep-data`: the tables stay.
    Kept,
    WouldCreate,
    WouldUpdate,
    Present,
    Missing,
    Drifted,
    /// A resource with the stack's name but without its tag: never touched.
    Foreign,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).ok();
        f.write_str(text.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResourceReport {
    pub kind: &'static str,
    pub name: String,
    pub outcome: Outcome,
    /// The resource's identifier (ARN, id, URI or digest) where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What was or would be changed, or how it drifted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl ResourceReport {
    pub fn new(kind: &'static str, name: impl Into<String>, outcome: Outcome) -> Self {
        Self { kind, name: name.into(), outcome, id: None, changes: Vec::new() }
    }

    /// Its identifier, when there is one yet (a resource a dry run would create may have none).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into()).filter(|id| !id.is_empty());
        self
    }

    pub fn changes(mut self, changes: Vec<String>) -> Self {
        self.changes = changes;
        self
    }
}

impl fmt::Display for ResourceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<KIND_WIDTH$} {:<30} {}", self.kind, self.name, self.outcome)?;
        if !self.changes.is_empty() {
            write!(f, " ({})", self.changes.join("; "))?;
        }
        Ok(())
    }
}

/// The whole run's result.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stack: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The WebSocket API's stage, where clients connect for pushed messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_endpoint: Option<String>,
    pub resources: Vec<ResourceReport>,
}

impl Report {
    pub fn has(&self, outcome: Outcome) -> bool {
        self.resources.iter().any(|r| r.outcome == outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stack {}", self.stack)?;
        for resource in &self.resources {
            writeln!(f, "  {resource}")?;
            if let Some(id) = &resource.id {
                writeln!(f, "  {:<KIND_WIDTH$} {id}", "")?;
            }
        }
        if let Some(endpoint) = &self.endpoint {
            writeln!(f, "endpoint: {endpoint}")?;
        }
        match &self.stream_endpoint {
            Some(stream) => writeln!(f, "stream: {stream}"),
            None => Ok(()),
        }
    }
}

/// Shows each step while it runs and records its outcome.
pub struct Progress {
    terminal: bool,
    done: Mutex<Vec<ResourceReport>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self { terminal: std::io::stderr().is_terminal(), done: Mutex::new(Vec::new()) }
    }
}

impl Progress {
    /// Runs one step under a spinner labelled `kind name`, then records and prints its outcome.
    /// The step returns its report and whatever the next steps need from it.
    pub async fn step<T, F>(&self, kind: &'static str, name: &str, work: F) -> Result<T, crate::Error>
    where
        F: Future<Output = Result<(ResourceReport, T), crate::Error>>,
    {
        let spinner = self.terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
            bar.set_message(format!("{kind:<KIND_WIDTH$} {name}"));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let result = Box::pin(work).await;
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        match result {
            Ok((report, value)) => {
                eprintln!("{report}");
                self.done.lock().expect("not poisoned").push(report);
                Ok(value)
            }
            Err(error) => {
                eprintln!("{kind:<KIND_WIDTH$} {name:<30} failed");
                Err(error)
            }
        }
    }

    /// A step whose only result is its report.
    pub async fn report<F>(&self, kind: &'static str, name: &str, work: F) -> Result<(), crate::Error>
    where
        F: Future<Output = Result<ResourceReport, crate::Error>>,
    {
        self.step(kind, name, async { Ok((work.await?, ())) }).await
    }

    pub fn finish(self, stack: &str, endpoint: Option<String>, stream_endpoint: Option<String>) -> Report {
        let resources = self.done.into_inner().expect("not poisoned");
        Report { stack: stack.to_owned(), endpoint, stream_endpoint, resources }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_shows_an_identifier_only_when_there_is_one() {
        let report = |id: &str| ResourceReport::new("http api", "s-http", Outcome::WouldCreate).id(id);
        assert_eq!(report("").id, None);
        assert_eq!(report("abc123").id.as_deref(), Some("abc123"));
        let stack = Report { stack: "s".into(), endpoint: None, stream_endpoint: None, resources: vec![report("")] };
        assert_eq!(stack.to_string().lines().count(), 2, "no empty identifier line:\n{stack}");
    }

    #[test]
    fn every_kind_fits_its_column() {
        let kinds = [
            crate::repository::KIND,
            crate::image::push::KIND,
            crate::secret::KIND,
            crate::websocket_api::KIND,
            crate::role::KIND,
            crate::tables::KIND,
            crate::log_group::KIND,
            crate::function::KIND,
            crate::http_api::KIND,
            crate::http_api::PERMISSION_KIND,
            crate::websocket_api::PERMISSION_KIND,
        ];
        assert_eq!(kinds.iter().map(|k| k.len()).max(), Some(KIND_WIDTH));
        let line = ResourceReport::new(crate::websocket_api::PERMISSION_KIND, "s-ws-invoke", Outcome::Created);
        let short = ResourceReport::new(crate::role::KIND, "s-api-role", Outcome::Created);
        assert_eq!(line.to_string().find("s-ws-invoke"), short.to_string().find("s-api-role"), "names line up");
    }
}
