//! Progress on stderr: bars and spinners on a terminal, one plain line per finished step
//! otherwise, nothing with `--quiet`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mbi::core::Digest;
use mbi::registry::{Direction, Progress, ProgressEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--quiet`: errors only.
    Quiet,
    /// stderr is a terminal: animated bars and spinners, plus a line per finished step.
    Terminal,
    /// stderr is a file or pipe: a line per finished step.
    Lines,
}

/// Reports progress, finished steps and warnings on stderr.
#[derive(Debug)]
pub struct Reporter {
    mode: Mode,
    /// On a terminal: where every bar and spinner is drawn, so that they share the screen.
    multi: Option<MultiProgress>,
}

impl Reporter {
    /// Chooses the mode from `--quiet` and whether stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        let multi = (mode == Mode::Terminal)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter { mode, multi }
    }

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        match &self.multi {
            Some(m) => m.add(bar),
            None => bar,
        }
    }

    /// A spinner for work of unknown length (shown on a terminal only).
    pub fn spinner(&self, message: impl Into<String>) -> Task {
        if self.mode != Mode::Terminal {
            return Task { bar: None };
        }
        let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.add(
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(style)
                .with_message(message.into()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Task { bar: Some(bar) }
    }

    /// A bar counting `total` bytes (shown on a terminal only).
    pub fn bytes(&self, total: u64, message: impl Into<String>) -> Task {
        if self.mode != Mode::Terminal {
            return Task { bar: None };
        }
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = self.add(
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
                .with_style(style)
                .with_message(message.into()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Task { bar: Some(bar) }
    }

    /// Where a registry client sends its events: one byte bar per blob in transfer on a
    /// terminal, warnings for retries otherwise, `None` with `--quiet`.
    pub fn registry_progress(&self) -> Option<Arc<dyn Progress>> {
        match self.mode {
            Mode::Quiet => None,
            _ => Some(Arc::new(RegistryBars {
                multi: self.multi.clone(),
                bars: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// Reports a finished step.
    pub fn step(&self, message: impl std::fmt::Display) {
        self.line(message.to_string());
    }

    /// A line above the bars (or plain on stderr).
    fn line(&self, line: String) {
        match (&self.multi, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(m), _) => {
                if m.println(&line).is_err() {
                    eprintln!("{line}");
                }
            }
            (None, _) => eprintln!("{line}"),
        }
    }

    /// Reports something the user should know about although the command goes on.
    pub fn warn(&self, message: impl std::fmt::Display) {
        self.line(format!("mbi: warning: {message}"));
    }
}

/// A running bar or spinner; cleared when finished or dropped.
#[derive(Debug)]
pub struct Task {
    bar: Option<ProgressBar>,
}

impl Task {
    /// Advances a byte bar.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Changes the message.
    pub fn message(&self, message: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(message.into());
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Draws [`ProgressEvent`]s: a bar per blob while it moves (terminal only), a warning line
/// per retry.
struct RegistryBars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl RegistryBars {
    fn bar(&self, digest: &Digest, direction: Direction, total: u64) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        let bar = bars.entry(digest.clone()).or_insert_with(|| {
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let verb = match direction {
                Direction::Pull => "Pulling",
                Direction::Push => "Pushing",
            };
            let hex = digest.to_string();
            let short = hex.split_once(':').map_or(hex.as_str(), |(_, h)| h);
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
                .with_style(style)
                .with_message(format!("{verb} {}", short.get(..12).unwrap_or(short)));
            multi.add(bar)
        });
        Some(bar.clone())
    }

    fn finish(&self, digest: &Digest) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some(bar) = bars.remove(digest)
        {
            bar.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&bar);
            }
        }
    }
}

impl Progress for RegistryBars {
    fn event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::BlobStarted { digest, direction, total, offset } => {
                if let Some(b) = self.bar(digest, *direction, *total) {
                    b.set_position(*offset);
                }
            }
            ProgressEvent::BlobProgress { digest, direction, done, total } => {
                if let Some(b) = self.bar(digest, *direction, *total) {
                    b.set_position(*done);
                }
            }
            ProgressEvent::BlobDone { digest, .. } => self.finish(digest),
            ProgressEvent::Retrying { what, attempt, delay_ms, error } => {
                let line = format!(
                    "mbi: warning: {what}: attempt {attempt} failed ({error}); retrying in {:.1} s",
                    *delay_ms as f64 / 1000.0
                );
                match &self.multi {
                    Some(m) => {
                        let _ = m.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
            _ => {}
        }
    }
}

/// `1234567` → `1.2 MB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::human(999), "999 B");
        assert_eq!(super::human(1_234_567), "1.2 MB");
        assert_eq!(super::human(164_600_000), "164.6 MB");
    }
}
