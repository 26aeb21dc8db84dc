//! A one-line progress bar on standard error: epoch, step, running loss, throughput and time
//! left. Redrawn in place on a terminal, printed every few seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Progress of one epoch.
pub struct Progress {
    epoch: usize,
    epochs: usize,
    total: usize,
    last_draw: Option<Instant>,
    tty: bool,
    enabled: bool,
    every: Option<usize>,
}

impl Progress {
    /// Starts the progress of epoch `epoch` (1-based) of `epochs`, with `total` steps.
    pub fn new(epoch: usize, epochs: usize, total: usize, enabled: bool) -> Self {
        Self {
            epoch,
            epochs,
            total,
            last_draw: None,
            tty: std::io::stderr().is_terminal(),
            enabled,
            every: None,
        }
    }

    /// Prints a line every `every` steps instead of by time (PaddlePaddle's
    /// `display_iter_step`); `None` keeps the time-based redraw.
    pub fn with_every(mut self, every: Option<usize>) -> Self {
        self.every = every;
        self
    }

    /// Reports step `step` (1-based within the epoch) with the epoch's running mean loss, the
    /// images seen and the seconds spent training in this epoch.
    pub fn update(&mut self, step: usize, mean_loss: f64, images: usize, seconds: f64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let every = if self.tty { Duration::from_millis(200) } else { Duration::from_secs(10) };
        let due = match self.every {
            Some(n) => step.is_multiple_of(n) || step == self.total,
            None => self.last_draw.is_none_or(|t| now - t >= every) || step == self.total,
        };
        if !due {
            return;
        }
        self.last_draw = Some(now);
        let secs = seconds.max(1e-9);
        let width = 24;
        let filled = (width * step).checked_div(self.total).unwrap_or(width).min(width);
        let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
        let eta = if step > 0 {
            secs / step as f64 * (self.total - step.min(self.total)) as f64
        } else {
            0.0
        };
        let line = format!(
            "epoch {}/{} [{bar}] {step}/{} loss {mean_loss:.4} {:.1} img/s {:.0}s left",
            self.epoch,
            self.epochs,
            self.total,
            images as f64 / secs,
            eta
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            if step == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}
