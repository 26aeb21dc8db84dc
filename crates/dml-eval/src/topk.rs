//! Partial top-k selection for a block of rows, fed one slice of candidate scores at a time.
//!
//! Each row keeps a buffer of `cap = k + slack` candidates and a threshold (the k-th best score
//! after the last compaction). A candidate below the threshold cannot enter the top k and is
//! skipped with one comparison; the others are appended, and a full buffer is compacted back to
//! the k best with `select_nth_unstable_by` (linear time). Ties are broken by the smaller
//! reference index, so the result does not depend on the order in which candidates arrive.

use std::cmp::Ordering;

/// One candidate: its ranking key (larger is better) and its reference index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: f32,
    pub idx: u32,
}

/// Better-first order: larger key first, then smaller index.
#[cfg(test)]
pub(crate) fn better_first(a: &Entry, b: &Entry) -> Ordering {
    b.key.partial_cmp(&a.key).unwrap_or(Ordering::Equal).then(a.idx.cmp(&b.idx))
}

/// Packs a candidate into a `u64` whose integer order is the better-first order reversed
/// (larger is better): the key's bits mapped to an order-preserving `u32` in the high half,
/// the complemented index (smaller index, larger value) in the low half. `-0.0` is folded
/// into `+0.0` so that the two zeros tie and fall back to the index.
#[inline]
fn pack(key: f32, idx: u32) -> u64 {
    let bits = (key + 0.0).to_bits();
    let ordered = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
    (u64::from(ordered) << 32) | u64::from(!idx)
}

/// Inverse of [`pack`].
#[inline]
fn unpack(packed: u64) -> Entry {
    let ordered = (packed >> 32) as u32;
    let bits = if ordered >> 31 == 1 { ordered & 0x7FFF_FFFF } else { !ordered };
    Entry { key: f32::from_bits(bits), idx: !(packed as u32) }
}

/// Larger packed value first.
#[inline]
fn desc(a: &u64, b: &u64) -> Ordering {
    b.cmp(a)
}

/// Top-k state of `rows` rows.
pub(crate) struct TopKBlock {
    k: usize,
    cap: usize,
    entries: Vec<u64>,
    len: Vec<u32>,
    threshold: Vec<f32>,
}

impl TopKBlock {
    /// Empty state for `rows` rows keeping the `k` best of each.
    pub fn new(rows: usize, k: usize) -> Self {
        let cap = k + (k / 2).max(16);
        Self {
            k,
            cap,
            entries: vec![0; rows * cap],
            len: vec![0; rows],
            threshold: vec![f32::NEG_INFINITY; rows],
        }
    }

    /// Offers `keys[c]` as the candidate with reference index `base + c`, for every `c` except
    /// `skip` (pass `usize::MAX` to skip nothing).
    pub fn push_row(&mut self, row: usize, keys: &[f32], base: u32, skip: usize) {
        let (k, cap) = (self.k, self.cap);
        let buf = &mut self.entries[row * cap..(row + 1) * cap];
        let mut len = self.len[row] as usize;
        let mut thr = self.threshold[row];
        for (c, &key) in keys.iter().enumerate() {
            // One float comparison rejects almost every candidate once the buffer has filled.
            if key >= thr && c != skip {
                if len == cap {
                    thr = compact(buf, k);
                    len = k;
                    if key < thr {
                        continue;
                    }
                }
                buf[len] = pack(key, base + c as u32);
                len += 1;
            }
        }
        self.len[row] = len as u32;
        self.threshold[row] = thr;
    }

    /// The k best candidates of `row`, best first, written to `out` (fewer than k when fewer
    /// were offered; the number written is returned).
    pub fn finish_row(&mut self, row: usize, out: &mut [Entry]) -> usize {
        let (k, cap) = (self.k, self.cap);
        let len = self.len[row] as usize;
        let buf = &mut self.entries[row * cap..row * cap + len];
        let kept = if len > k {
            buf.select_nth_unstable_by(k - 1, desc);
            k
        } else {
            len
        };
        let buf = &mut buf[..kept];
        buf.sort_unstable_by(desc);
        for (o, &p) in out.iter_mut().zip(buf.iter()) {
            *o = unpack(p);
        }
        kept
    }
}

/// Keeps the k best of a full buffer at its front and returns the k-th best key.
fn compact(buf: &mut [u64], k: usize) -> f32 {
    buf.select_nth_unstable_by(k - 1, desc);
    unpack(buf[k - 1]).key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_k_best_with_index_tie_break() {
        let k = 3;
        let mut block = TopKBlock::new(1, k);
        // 100 candidates in two slices, many ties.
        let keys: Vec<f32> = (0..100).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        block.push_row(0, &keys[50..], 50, usize::MAX);
        block.push_row(0, &keys[..50], 0, 7);
        let mut out = vec![Entry { key: 0.0, idx: 0 }; k];
        assert_eq!(block.finish_row(0, &mut out), k);
        let got: Vec<u32> = out.iter().map(|e| e.idx).collect();
        let mut all: Vec<Entry> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 7)
            .map(|(i, &key)| Entry { key, idx: i as u32 })
            .collect();
        all.sort_by(better_first);
        let want: Vec<u32> = all[..k].iter().map(|e| e.idx).collect();
        assert_eq!(got, want);
    }
}

#[cfg(test)]
mod pack_tests {
    use super::{pack, unpack};

    #[test]
    fn pack_orders_like_key_then_smaller_index_and_round_trips() {
        let keys = [-3.5f32, -1e-30, -0.0, 0.0, 1e-30, 0.25, 7.0, f32::MAX, f32::NEG_INFINITY];
        for &a in &keys {
            for &b in &keys {
                for (i, j) in [(1u32, 2u32), (2, 1), (5, 5)] {
                    let (pa, pb) = (pack(a, i), pack(b, j));
                    let want = if a != b { a > b } else { i < j };
                    assert_eq!(pa > pb, want, "{a}@{i} vs {b}@{j}");
                }
                let e = unpack(pack(a, 9));
                assert_eq!((e.key, e.idx), (a + 0.0, 9));
            }
        }
    }
}
