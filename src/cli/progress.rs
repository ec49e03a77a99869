//! One progress display over a whole sync or import: a bar on a terminal, whose message
//! says the phase (reading, checking and storing, choosing what to leave, writing); and,
//! when stderr is not a terminal (a service's log, a script), a line every few seconds
//! once the run has lasted that long, so a long run is never silent.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use caravan::link::stick::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// How often a line is logged when stderr is not a terminal (and how long a run lasts
/// before the first).
const LOG_EVERY: Duration = Duration::from_secs(3);

pub struct Bars {
    bar: Option<ProgressBar>,
    bytes: bool,
    log: bool,
    started: Instant,
    logged: Instant,
    every: Duration,
    what: &'static str,
}

impl Bars {
    /// A display for a run of `what` ("sync", "import").
    pub fn new(what: &'static str) -> Self {
        let remote = crate::cli::output::is_remote();
        let terminal = std::io::stderr().is_terminal() && !remote;
        let bar = terminal.then(|| {
            let b = ProgressBar::new(0);
            b.set_style(style(false));
            b
        });
        let now = Instant::now();
        Bars { bar, bytes: false, log: !terminal, started: now, logged: now, every: LOG_EVERY, what }
    }

    /// Shows where the run is.
    pub fn update(&mut self, p: Progress) {
        match p {
            Progress::Reading { done, total } => self.show("reading the stick", done as u64, total as u64, false),
            Progress::Storing { bundles, before } => {
                let msg = format!("checking and storing {bundles} bundles ({before} done)");
                self.message(msg)
            }
            Progress::Planning => self.message("choosing what to leave on the stick".into()),
            Progress::Writing { done, total } => self.show("writing to the stick", done, total, true),
            _ => {}
        }
    }

    /// Files read of all, for `caravan import`.
    pub fn files(&mut self, done: usize, total: usize) {
        self.show("reading and storing bundle files", done as u64, total as u64, false);
    }

    fn show(&mut self, phase: &str, done: u64, total: u64, bytes: bool) {
        if let Some(b) = &self.bar {
            if bytes != self.bytes {
                b.set_style(style(bytes));
                self.bytes = bytes;
            }
            b.set_message(phase.to_string());
            b.set_length(total.max(done));
            b.set_position(done);
        }
        let amount = if bytes {
            format!("{} of {}", caravan::words::human_bytes(done), caravan::words::human_bytes(total.max(done)))
        } else {
            format!("{done} of {}", total.max(done))
        };
        self.log_line(&format!("{phase}: {amount}"));
    }

    fn message(&mut self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg.clone());
            b.tick();
        }
        self.log_line(&msg);
    }

    fn log_line(&mut self, text: &str) {
        if self.log && self.logged.elapsed() >= self.every {
            self.logged = Instant::now();
            let secs = self.started.elapsed().as_secs();
            crate::cli::output::err(&format!("caravan {}: {text} ({secs} s)\n", self.what));
        }
    }
}

fn style(bytes: bool) -> ProgressStyle {
    let template =
        if bytes { "{msg} {bar:30} {bytes}/{total_bytes} {eta}" } else { "{msg} {bar:30} {pos}/{len} {elapsed}" };
    ProgressStyle::with_template(template).expect("valid template")
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::{Remote, Reply, as_remote};

    #[test]
    fn without_a_terminal_a_long_run_logs_its_phases() {
        let node = caravan::Node::in_memory("T").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let remote = Remote {
            node: std::sync::Arc::new(tokio::sync::Mutex::new(node)),
            cwd: "/".into(),
            stdin: None,
            replies: tx,
        };
        as_remote(remote, || {
            let mut bars = Bars::new("sync");
            assert!(bars.bar.is_none() && bars.log, "a client's run has no terminal of ours");
            bars.every = Duration::ZERO;
            bars.update(Progress::Reading { done: 10, total: 40 });
            bars.update(Progress::Storing { bundles: 10, before: 0 });
            bars.update(Progress::Planning);
            bars.update(Progress::Writing { done: 2048, total: 4096 });
        });
        let lines: Vec<String> =
            rx.try_iter().filter_map(|r| if let Reply::Err(t) = r { Some(t) } else { None }).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("caravan sync: reading the stick: 10 of 40 ("), "{lines:?}");
        assert!(lines[1].contains("checking and storing 10 bundles"), "{lines:?}");
        assert!(lines[2].contains("choosing what to leave"), "{lines:?}");
        assert!(lines[3].contains("writing to the stick: 2 KiB of 4 KiB"), "{lines:?}");
    }
}
