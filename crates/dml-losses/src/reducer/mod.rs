//! Reducers: how a loss's per-pair, per-triplet or per-element values become one number.

mod kind;
mod term;

pub use kind::Reducer;
pub use term::{Anchors, LossTerm, TermKind};
