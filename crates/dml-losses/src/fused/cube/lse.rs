//! The running log-sum-exp every column walk of the CubeCL kernels keeps: the largest exponent
//! so far and the sum of the terms shifted by it, rescaled when the maximum grows.

use burn_cubecl::cubecl;
use cubecl::prelude::*;

/// A running `log(sum_k e^{a_k})`, one term at a time ([`RunningLse::push`]).
#[derive(CubeType)]
pub(super) struct RunningLse<F: Float> {
    /// The largest exponent so far (or the starting one).
    max: RuntimeCell<F>,
    /// `sum_k e^{a_k - max}` over the terms pushed.
    terms: RuntimeCell<F>,
}

#[cube]
impl<F: Float> RunningLse<F> {
    /// For `log(1 + sum)`: the maximum starts at the `1 +` term's exponent, 0, which is kept
    /// apart from the sum ([`RunningLse::lse_with_one`]).
    pub fn with_one() -> RunningLse<F> {
        RunningLse::<F> { max: RuntimeCell::new(F::new(0.0)), terms: RuntimeCell::new(F::new(0.0)) }
    }

    /// For `log(sum)`: the first term replaces the (finite) starting maximum.
    pub fn empty() -> RunningLse<F> {
        RunningLse::<F> {
            max: RuntimeCell::new(F::new(-1.0e30)),
            terms: RuntimeCell::new(F::new(0.0)),
        }
    }

    /// Adds the term `e^a`.
    pub fn push(&mut self, a: F) {
        let max = self.max.read();
        let terms = self.terms.read();
        if a > max {
            self.terms.store(terms * (max - a).exp() + F::new(1.0));
            self.max.store(a);
        } else {
            self.terms.store(terms + (a - max).exp());
        }
    }

    /// `log(1 + sum)` (for [`RunningLse::with_one`]).
    pub fn lse_with_one(&self) -> F {
        let max = self.max.read();
        max + ((-max).exp() + self.terms.read()).ln()
    }

    /// `sum / (1 + sum)`: the share of the terms in `1 + sum` (for [`RunningLse::with_one`]).
    pub fn share_with_one(&self) -> F {
        let terms = self.terms.read();
        terms / ((-self.max.read()).exp() + terms)
    }

    /// `log(sum)`, or 0 when nothing was pushed (for [`RunningLse::empty`]).
    pub fn lse(&self) -> F {
        let terms = self.terms.read();
        let mut value = F::new(0.0);
        if terms > F::new(0.0) {
            value = self.max.read() + terms.ln();
        }
        value
    }
}
