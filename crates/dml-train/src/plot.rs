//! A dependency-free SVG plot of the training loss and Recall@1 per epoch.

use std::fmt::Write as _;

use crate::metrics::History;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// An SVG image with two polylines over the epochs: the mean training loss per epoch (left
/// axis, blue) and the headline Recall@K of every evaluation (right axis, 0-100 %, orange, at
/// the fractional epoch it ran).
pub fn loss_recall_svg(history: &History) -> String {
    let n = history.epochs.len().max(1);
    let last_eval = history.evaluations.last().map_or(0.0, |e| e.epoch);
    let max_epoch = (history.epochs.last().map_or(1, |r| r.epoch) as f64).max(last_eval).max(1.0);
    let losses: Vec<f64> =
        history.epochs.iter().map(|r| r.loss).filter(|l| l.is_finite()).collect();
    let (mut lo, mut hi) =
        losses.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| (a.min(l), b.max(l)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |epoch: f64| LEFT + pw * epoch / max_epoch;
    let y_loss = |l: f64| TOP + ph * (1.0 - (l - lo) / (hi - lo));
    let y_recall = |r: f64| TOP + ph * (1.0 - r);

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"##
    );
    s.push_str(r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
    );
    let _ = write!(
        s,
        r##"<text x="{}" y="22" text-anchor="middle" font-size="14">training loss per epoch and Recall@K per evaluation ({n} epochs)</text>"##,
        W / 2.0
    );
    // Axis labels.
    let _ = write!(s, r##"<text x="{LEFT}" y="{}" fill="#1f77b4">{hi:.4}</text>"##, TOP - 6.0);
    let _ = write!(s, r##"<text x="4" y="{}" fill="#1f77b4">{lo:.4}</text>"##, TOP + ph);
    let _ = write!(s, r##"<text x="4" y="{}" fill="#1f77b4">loss</text>"##, TOP + ph / 2.0);
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" fill="#ff7f0e" text-anchor="end">100%</text><text x="{}" y="{}" fill="#ff7f0e" text-anchor="end">0%</text><text x="{}" y="{}" fill="#ff7f0e" text-anchor="end">R@1</text>"##,
        W - 4.0,
        TOP + 4.0,
        W - 4.0,
        TOP + ph,
        W - 4.0,
        TOP + ph / 2.0
    );
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">epoch (0 to {})</text>"##,
        LEFT + pw / 2.0,
        H - 14.0,
        max_epoch
    );
    let points = |pts: Vec<(f64, f64)>| {
        pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" ")
    };
    let loss_pts: Vec<(f64, f64)> = history
        .epochs
        .iter()
        .filter(|r| r.loss.is_finite())
        .map(|r| (x(r.epoch as f64), y_loss(r.loss)))
        .collect();
    let recall_pts: Vec<(f64, f64)> =
        history.evaluations.iter().map(|e| (x(e.epoch), y_recall(e.headline()))).collect();
    for (pts, color) in [(loss_pts, "#1f77b4"), (recall_pts, "#ff7f0e")] {
        for (a, b) in &pts {
            let _ = write!(s, r##"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{color}"/>"##);
        }
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##,
            points(pts)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EpochRecord, EvalRecord};

    #[test]
    fn has_two_polylines() {
        let epoch = |epoch, loss| EpochRecord {
            epoch,
            loss,
            lr: 1e-4,
            steps: 1,
            images_per_second: 1.0,
            seconds: 1.0,
            frozen_backbone: false,
        };
        let eval = |step, epoch, r1| EvalRecord {
            step,
            epoch,
            recall_at: vec![(1, r1)],
            precision_at_1: r1,
            r_precision: 0.1,
            map_at_r: 0.1,
            nmi: None,
            ami: None,
            queries: 3,
            seconds: 0.1,
        };
        let history = History {
            epochs: vec![epoch(1, 2.0), epoch(2, 1.0)],
            evaluations: vec![eval(0, 0.0, 0.2), eval(1, 1.0, 0.3), eval(2, 2.0, 0.5)],
        };
        let svg = loss_recall_svg(&history);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
