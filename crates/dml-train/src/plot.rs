//! A dependency-free SVG plot of the training loss and Recall@1 per epoch.

use std::fmt::Write as _;

use crate::metrics::EpochRecord;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// An SVG image with two polylines over the epochs: the mean training loss (left axis, blue)
/// and Recall@1 (right axis, 0-100 %, orange, only at evaluated epochs).
pub fn loss_recall_svg(history: &[EpochRecord]) -> String {
    let n = history.len().max(1);
    let max_epoch = history.last().map_or(1, |r| r.epoch).max(1) as f64;
    let losses: Vec<f64> = history.iter().map(|r| r.loss).filter(|l| l.is_finite()).collect();
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
    let x = |epoch: usize| {
        if max_epoch <= 1.0 {
            LEFT + pw / 2.0
        } else {
            LEFT + pw * (epoch as f64 - 1.0) / (max_epoch - 1.0)
        }
    };
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
        r##"<text x="{}" y="22" text-anchor="middle" font-size="14">training loss and Recall@1 per epoch ({n} epochs)</text>"##,
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
        r##"<text x="{}" y="{}" text-anchor="middle">epoch (1 to {})</text>"##,
        LEFT + pw / 2.0,
        H - 14.0,
        max_epoch
    );
    let points = |pts: Vec<(f64, f64)>| {
        pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" ")
    };
    let loss_pts: Vec<(f64, f64)> = history
        .iter()
        .filter(|r| r.loss.is_finite())
        .map(|r| (x(r.epoch), y_loss(r.loss)))
        .collect();
    let recall_pts: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|r| {
            r.eval.as_ref().and_then(|e| e.recall(1)).map(|v| (x(r.epoch), y_recall(v)))
        })
        .collect();
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
    use crate::metrics::EvalRecord;

    #[test]
    fn has_two_polylines() {
        let rec = |epoch, loss, r1| EpochRecord {
            epoch,
            loss,
            lr: 1e-4,
            steps: 1,
            images_per_second: 1.0,
            seconds: 1.0,
            warmup: false,
            eval: Some(EvalRecord {
                recall_at: vec![(1, r1)],
                map_at_r: 0.1,
                queries: 3,
                seconds: 0.1,
            }),
        };
        let svg = loss_recall_svg(&[rec(1, 2.0, 0.3), rec(2, 1.0, 0.5)]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
