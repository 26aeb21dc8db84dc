//! [`MarginRule`]: how a class-weight head (see [`super::ClassHead`]) changes the logit of an
//! embedding's own class, and the angle arithmetic the rules share.

use burn::tensor::Tensor;

use super::classification::clamp_unit;
use crate::error::{LossResult, check_finite, invalid};
use crate::ops::safe_sqrt;

/// The margin a class-weight head puts on the cosine `c = cos(theta)` of each embedding with
/// its own class (the target class); the cosines with the other classes stay as they are.
///
/// PML builds `SphereFaceLoss`, `ArcFaceLoss` and `CosFaceLoss` (and through ArcFace
/// `SubCenterArcFaceLoss`) on `LargeMarginSoftmaxLoss`, each overriding the target-cosine
/// modification; here each of those modifications is one variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarginRule {
    /// No margin: the target logit is the cosine (`NormalizedSoftmaxLoss`).
    None,
    /// An additive cosine margin: `c - margin` (`CosFaceLoss`).
    AdditiveCosine {
        /// The margin subtracted from the target cosine.
        margin: f64,
    },
    /// An additive angular margin: `cos(theta + margin)`, with the fallback of `variant` where
    /// `theta + margin` would pass `pi` (`ArcFaceLoss`, `SubCenterArcFaceLoss`,
    /// `ArcMarginLoss`).
    AdditiveAngle {
        /// The angle added to the target angle, in radians.
        margin: f64,
        /// Which transcription of `cos(theta + margin)` and its fallback.
        variant: AngleVariant,
    },
    /// L-Softmax's multiplicative angular margin: `psi(theta) = (-1)^k cos(m theta) - 2k`,
    /// `k = floor(m theta / pi)` (`LargeMarginSoftmaxLoss`, `SphereFaceLoss`).
    MultiplicativeAngle {
        /// The integer angle multiplier `m` (at least 1; 1 is no margin).
        margin: usize,
    },
}

/// The transcriptions of `cos(theta + m) = c cos(m) - sin(theta) sin(m)` that
/// [`MarginRule::AdditiveAngle`] follows. They agree where `c` is in `[-1, 1]` and
/// `theta + m < pi`; they differ in the clamp, the square root and the fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AngleVariant {
    /// PML's `ArcFaceLoss`: `c` clamped to `[-1, 1]`, `sin(theta) = sqrt(1 - c^2)`,
    /// `cos(theta + m)` where `theta <= pi - m` (`c >= -cos(m)`), else `c - m sin(m)`.
    Pml,
    /// PaddleClas's `ArcMargin`: `c` not clamped, `sin(theta) = sqrt(max(1 - c^2 + 1e-6, 0))`,
    /// `cos(theta + m)` where `c > cos(pi - m)` (strictly), else `c - m sin(m)`.
    Paddle,
    /// PaddleClas's `ArcMargin` with `easy_margin`: as [`AngleVariant::Paddle`], but
    /// `cos(theta + m)` only where `c > 0` and `c` itself elsewhere.
    PaddleEasy,
}

impl AngleVariant {
    /// What the variant adds under the square root of `1 - c^2` (Paddle's `1e-6`).
    fn sine_offset(self) -> f64 {
        match self {
            Self::Pml => 0.0,
            Self::Paddle | Self::PaddleEasy => 1e-6,
        }
    }
}

impl MarginRule {
    /// Checks the rule's margin (`margin` names the configuration field): finite for the
    /// additive rules, at least 1 for the multiplicative one.
    pub(crate) fn validate(&self, component: &'static str) -> LossResult<()> {
        match *self {
            Self::None => Ok(()),
            Self::AdditiveCosine { margin } | Self::AdditiveAngle { margin, .. } => {
                check_finite(component, "margin", margin)
            }
            // PML divides pi by the margin.
            Self::MultiplicativeAngle { margin: 0 } => {
                Err(invalid(component, "margin", "must be at least 1"))
            }
            Self::MultiplicativeAngle { .. } => Ok(()),
        }
    }

    /// The unscaled logits: the cosines, with the target entry of each row replaced by the
    /// rule's modified target cosine (PML's `cosine + mask * (modified - cosine)`). The margin
    /// is computed on the `n` target cosines only.
    ///
    /// # Shapes
    /// - `cosine`, `target` (one-hot): `[n, C]` -> `[n, C]`
    pub(crate) fn apply(&self, cosine: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        match *self {
            Self::None => cosine,
            Self::AdditiveCosine { margin } => cosine - target.mul_scalar(margin),
            Self::AdditiveAngle { margin, variant } => {
                replace_target(cosine, target, |c| cos_plus_angle(c, margin, variant))
            }
            Self::MultiplicativeAngle { margin } => {
                replace_target(cosine, target, |c| large_margin_psi(c, margin))
            }
        }
    }
}

/// The cosine matrix with each row's target entry `c` replaced by `modify(c)`.
///
/// # Shapes
/// - `cosine`, `target` (one-hot): `[n, C]` -> `[n, C]`; `modify`: `[n, 1]` -> `[n, 1]`
fn replace_target(
    cosine: Tensor<2>,
    target: Tensor<2>,
    modify: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<2> {
    let target_cosine = (cosine.clone() * target.clone()).sum_dim(1);
    let diff = modify(target_cosine.clone()) - target_cosine;
    cosine + target * diff
}

/// `cos(theta + m)` of cosines `c = cos(theta)`, with the clamp, square root and fallback of
/// `variant` (`m` in radians). The square root is [`safe_sqrt`] (gradient 0 where its argument
/// is 0), so the gradient is finite at `c = +-1`, where PyTorch's `acos` (PML) is not; Paddle's
/// argument `1 - c^2 + 1e-6` is above `safe_sqrt`'s `1e-16` for every `|c| < 1 + 5e-7`, where
/// the two square roots agree in value and gradient.
///
/// # Shapes
/// - `cosine`: `[n, 1]` -> `[n, 1]`
pub(crate) fn cos_plus_angle(cosine: Tensor<2>, margin: f64, variant: AngleVariant) -> Tensor<2> {
    let c = match variant {
        AngleVariant::Pml => clamp_unit(cosine),
        AngleVariant::Paddle | AngleVariant::PaddleEasy => cosine,
    };
    let sine = safe_sqrt(c.clone().square().neg().add_scalar(1.0 + variant.sine_offset()));
    let plus_margin = c.clone().mul_scalar(margin.cos()) - sine.mul_scalar(margin.sin());
    // theta <= pi - m  <=>  c >= cos(pi - m) = -cos(m)
    let (in_range, fallback) = match variant {
        AngleVariant::Pml => {
            (c.clone().greater_equal_elem(-margin.cos()), c.sub_scalar(margin * margin.sin()))
        }
        AngleVariant::Paddle => {
            (c.clone().greater_elem(-margin.cos()), c.sub_scalar(margin * margin.sin()))
        }
        AngleVariant::PaddleEasy => (c.clone().greater_elem(0.0), c),
    };
    fallback.mask_where(in_range, plus_margin)
}

/// L-Softmax's `psi(theta) = (-1)^k cos(m theta) - 2k` of a cosine `c`, with
/// `k = floor(m acos(c) / pi)` (outside the graph, as PML's `no_grad`).
///
/// `cos(m theta)` is the Chebyshev polynomial `T_m(c)` (the paper's multiple-angle expansion,
/// Eq. 7), evaluated by its recurrence `T_{i+1} = 2 c T_i - T_{i-1}` on the unclamped cosine,
/// so there is no `acos` in the graph and the gradient is finite at `c = +-1`. `k` counts the
/// multiples `j pi / m` (`j = 1..m`) that `theta` reaches, i.e. `c <= cos(j pi / m)` on the
/// cosine clamped to `[-1, 1]`; `psi` and its slope are continuous at those points, so which
/// side a cosine on a boundary falls on does not matter.
///
/// # Shapes
/// - `cosine`: `[n, 1]` -> `[n, 1]`
pub(crate) fn large_margin_psi(cosine: Tensor<2>, margin: usize) -> Tensor<2> {
    let mut previous = cosine.ones_like();
    let mut current = cosine.clone();
    for _ in 1..margin {
        let next = cosine.clone().mul(current.clone()).mul_scalar(2.0) - previous;
        previous = current;
        current = next;
    }
    let c = cosine.detach().clamp(-1.0, 1.0);
    let mut k = c.zeros_like();
    let mut sign = c.ones_like();
    for j in 1..=margin {
        let bound = (j as f64 * std::f64::consts::PI / margin as f64).cos();
        let reached = c.clone().lower_equal_elem(bound).float();
        k = k + reached.clone();
        sign = sign * reached.mul_scalar(-2.0).add_scalar(1.0);
    }
    current * sign - k.mul_scalar(2.0)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    fn column(values: &[f64], device: &Device) -> Tensor<2> {
        let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        Tensor::<1>::from_floats(v.as_slice(), device).reshape([values.len(), 1])
    }

    fn floats(t: Tensor<2>) -> Vec<f32> {
        t.to_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn psi_is_cos_of_m_theta_with_pml_offsets() {
        let device = Device::flex();
        let theta = [0.0f64, 0.3, 1.0, 2.0, 2.9, std::f64::consts::PI];
        let c: Vec<f64> = theta.iter().map(|t| t.cos()).collect();
        let got = floats(large_margin_psi(column(&c, &device), 4));
        for (t, g) in theta.iter().zip(got) {
            let k = (4.0 * t / std::f64::consts::PI).floor();
            let want = (-1f64).powi(k as i32) * (4.0 * t).cos() - 2.0 * k;
            assert!((g as f64 - want).abs() < 1e-4, "theta {t}: {g} vs {want}");
        }
    }

    #[test]
    fn additive_angle_variants_follow_their_transcriptions() {
        let device = Device::flex();
        let m = 0.5f64;
        let c = [0.9f64, 0.2, -0.1, -0.87, -0.9, -1.0];
        let value = |variant| floats(cos_plus_angle(column(&c, &device), m, variant));
        let (pml, paddle, easy) = (
            value(AngleVariant::Pml),
            value(AngleVariant::Paddle),
            value(AngleVariant::PaddleEasy),
        );
        for (i, &ci) in c.iter().enumerate() {
            let theta = ci.acos();
            let plus = (theta + m).cos();
            let paddle_plus = ci * m.cos() - (1.0 - ci * ci + 1e-6).sqrt() * m.sin();
            let pml_want = if theta <= std::f64::consts::PI - m { plus } else { ci - m * m.sin() };
            let paddle_want = if ci > -m.cos() { paddle_plus } else { ci - m * m.sin() };
            let easy_want = if ci > 0.0 { paddle_plus } else { ci };
            assert!((pml[i] as f64 - pml_want).abs() < 1e-5, "PML at {ci}: {}", pml[i]);
            assert!((paddle[i] as f64 - paddle_want).abs() < 1e-5, "Paddle at {ci}");
            assert!((easy[i] as f64 - easy_want).abs() < 1e-5, "easy margin at {ci}");
        }
    }

    #[test]
    fn only_the_target_entry_changes() {
        let device = Device::flex();
        let cosine = Tensor::<2>::from_floats([[0.5, -0.2, 0.1], [0.3, 0.8, -0.6]], &device);
        let target = Tensor::<2>::from_floats([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], &device);
        let rules = [
            MarginRule::None,
            MarginRule::AdditiveCosine { margin: 0.35 },
            MarginRule::AdditiveAngle { margin: 0.5, variant: AngleVariant::Pml },
            MarginRule::MultiplicativeAngle { margin: 3 },
        ];
        let plain = floats(cosine.clone());
        for rule in rules {
            let got = floats(rule.apply(cosine.clone(), target.clone()));
            for (i, (g, p)) in got.iter().zip(&plain).enumerate() {
                if i != 1 && i != 3 {
                    assert_eq!(g, p, "{rule:?} changed entry {i}");
                }
            }
        }
        let cos_face = floats(MarginRule::AdditiveCosine { margin: 0.35 }.apply(cosine, target));
        assert!((cos_face[1] - (-0.55)).abs() < 1e-6 && (cos_face[3] - (-0.05)).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_margins() {
        let bad = [
            MarginRule::AdditiveCosine { margin: f64::INFINITY },
            MarginRule::AdditiveAngle { margin: f64::NAN, variant: AngleVariant::Paddle },
            MarginRule::MultiplicativeAngle { margin: 0 },
        ];
        for rule in bad {
            assert!(rule.validate("test").is_err(), "{rule:?}");
        }
        assert!(MarginRule::MultiplicativeAngle { margin: 1 }.validate("test").is_ok());
    }
}
