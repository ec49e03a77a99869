//! Progress bars on a terminal; nothing when stderr is not one.

use std::io::IsTerminal;

use caravan::link::stick::Progress;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bars {
    on_terminal: bool,
    reading: Option<ProgressBar>,
    writing: Option<ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        let on_terminal = std::io::stderr().is_terminal() && !crate::cli::output::is_remote();
        Bars { on_terminal, reading: None, writing: None }
    }

    pub fn update(&mut self, p: Progress) {
        if !self.on_terminal {
            return;
        }
        match p {
            Progress::Reading { done, total } => {
                let bar = self.reading.get_or_insert_with(|| {
                    let b = ProgressBar::new(total as u64);
                    b.set_style(
                        ProgressStyle::with_template("reading stick {bar:30} {pos}/{len} records {eta}")
                            .expect("valid template"),
                    );
                    b
                });
                bar.set_position(done as u64);
            }
            Progress::Writing { done, total } => {
                if let Some(r) = self.reading.take() {
                    r.finish_and_clear();
                }
                let bar = self.writing.get_or_insert_with(|| {
                    let b = ProgressBar::new(total);
                    b.set_style(
                        ProgressStyle::with_template("writing stick {bar:30} {bytes}/{total_bytes} {eta}")
                            .expect("valid template"),
                    );
                    b
                });
                bar.set_position(done);
            }
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        for b in [self.reading.take(), self.writing.take()].into_iter().flatten() {
            b.finish_and_clear();
        }
    }
}
