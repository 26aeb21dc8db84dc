//! Exact k-nearest-neighbour search on the CPU: blocked matrix products, self-exclusion by
//! index, partial top-k selection, multi-threaded with rayon.

use std::sync::Mutex;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::distance::KnnDistance;
use crate::embeddings::Embeddings;
use crate::error::{EvalError, EvalResult, invalid};
use crate::gemm::matmul_abt;
use crate::topk::{Entry, TopKBlock};

/// Settings of the neighbour search.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnConfig {
    /// Number of neighbours returned per query.
    pub k: usize,
    /// Cosine similarity or L2 distance.
    pub distance: KnnDistance,
    /// Rows per block of the similarity matrix (default 512). Each worker thread holds one
    /// `block_size x block_size` product (two for self-retrieval) at a time.
    pub block_size: usize,
}

impl KnnConfig {
    /// `k` neighbours by cosine similarity, blocks of 512 rows.
    pub fn new(k: usize) -> Self {
        Self { k, distance: KnnDistance::Cosine, block_size: 512 }
    }

    /// Sets the distance.
    pub fn with_distance(mut self, distance: KnnDistance) -> Self {
        self.distance = distance;
        self
    }

    /// Sets the block size.
    pub fn with_block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    fn check(&self, available: usize, self_retrieval: bool) -> EvalResult<()> {
        if self.k == 0 {
            return Err(invalid("k", "must be at least 1"));
        }
        if self.block_size == 0 {
            return Err(invalid("block_size", "must be at least 1"));
        }
        if self.k > available {
            return Err(EvalError::KTooLarge {
                field: "k",
                k: self.k,
                available,
                self_note: if self_retrieval {
                    " (the reference set minus the query itself)"
                } else {
                    ""
                },
            });
        }
        if available > u32::MAX as usize {
            return Err(invalid("reference", "more than u32::MAX rows"));
        }
        Ok(())
    }
}

/// The `k` nearest references of every query, best first.
///
/// Ties (equal scores) are broken by the smaller reference index.
///
/// # Shapes
/// `indices`, `scores`: `[rows, k]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnResult {
    /// Number of queries.
    pub rows: usize,
    /// Neighbours per query.
    pub k: usize,
    /// Reference index of each neighbour.
    pub indices: Vec<u32>,
    /// Cosine similarity (descending) or L2 distance (ascending) of each neighbour.
    pub scores: Vec<f32>,
    /// The distance the scores are in.
    pub distance: KnnDistance,
}

impl KnnResult {
    /// The neighbours of query `i`, best first.
    ///
    /// # Shapes
    /// `[k]`.
    pub fn row_indices(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// The scores of the neighbours of query `i`.
    ///
    /// # Shapes
    /// `[k]`.
    pub fn row_scores(&self, i: usize) -> &[f32] {
        &self.scores[i * self.k..(i + 1) * self.k]
    }

    /// The indices as an `ndarray` view.
    ///
    /// # Shapes
    /// `[rows, k]`.
    pub fn indices_array(&self) -> ArrayView2<'_, u32> {
        ArrayView2::from_shape((self.rows, self.k), &self.indices).expect("rows * k indices")
    }

    /// The scores as an `ndarray` view.
    ///
    /// # Shapes
    /// `[rows, k]`.
    pub fn scores_array(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.rows, self.k), &self.scores).expect("rows * k scores")
    }
}

/// Embeddings ready for the product: normalised rows (cosine) and squared norms (L2).
struct Prepared {
    data: Vec<f32>,
    sq_norms: Vec<f32>,
    dim: usize,
}

impl Prepared {
    fn new(emb: &Embeddings<'_>, distance: KnnDistance) -> Self {
        let dim = emb.dim();
        let mut data = emb.as_slice().to_vec();
        let mut sq_norms = vec![0.0f32; emb.rows()];
        data.par_chunks_mut(dim).zip(sq_norms.par_iter_mut()).for_each(|(row, sq)| {
            let norm2: f32 = row.iter().map(|v| v * v).sum();
            match distance {
                KnnDistance::Cosine => {
                    // PML/torch `normalize`: x / max(|x|, 1e-12).
                    let inv = 1.0 / norm2.sqrt().max(1e-12);
                    row.iter_mut().for_each(|v| *v *= inv);
                    *sq = 1.0;
                }
                KnnDistance::L2 => *sq = norm2,
            }
        });
        Self { data, sq_norms, dim }
    }

    fn rows(&self, start: usize, end: usize) -> &[f32] {
        &self.data[start * self.dim..end * self.dim]
    }
}

/// Turns a block of dot products into ranking keys (larger is better): the dot product itself
/// for cosine, `2 q.r - |r|^2 = |q|^2 - |q - r|^2` for L2.
fn to_keys(block: &mut [f32], cols: usize, ref_sq_norms: &[f32], distance: KnnDistance) {
    if distance == KnnDistance::L2 {
        for row in block.chunks_mut(cols) {
            for (v, &n) in row.iter_mut().zip(ref_sq_norms) {
                *v = 2.0 * *v - n;
            }
        }
    }
}

/// The reported score of a key.
fn to_score(key: f32, query_sq_norm: f32, distance: KnnDistance) -> f32 {
    match distance {
        KnnDistance::Cosine => key,
        KnnDistance::L2 => (query_sq_norm - key).max(0.0).sqrt(),
    }
}

/// Writes the finished top-k of a block of rows.
fn write_block(
    state: &mut TopKBlock,
    first_row: usize,
    query_sq_norms: &[f32],
    distance: KnnDistance,
    k: usize,
    indices: &mut [u32],
    scores: &mut [f32],
) {
    let mut best = vec![Entry { key: 0.0, idx: 0 }; k];
    for r in 0..indices.len() / k {
        let kept = state.finish_row(r, &mut best);
        debug_assert_eq!(kept, k);
        for (c, e) in best.iter().enumerate() {
            indices[r * k + c] = e.idx;
            scores[r * k + c] = to_score(e.key, query_sq_norms[first_row + r], distance);
        }
    }
}

/// `dst[c, r] = src[r, c]` for a row-major `src` of `rows x cols`, in cache-sized tiles.
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// Self-retrieval: the `k` nearest neighbours of every embedding among all the others.
///
/// Query `i` never returns reference `i` (exclusion by index, as PML's AccuracyCalculator
/// does); exact duplicates of `i` at other indices remain candidates. The similarity matrix is
/// symmetric, so each off-diagonal block is computed once and fed both to its rows and,
/// transposed, to its columns: half the multiply-adds of a plain search.
///
/// Memory: the top-k buffers of all rows (`rows x 1.5k` entries of 8 bytes) plus two
/// `block_size^2` scratch blocks per thread; never `rows x rows`.
///
/// # Shapes
/// `embeddings`: `[n, d]` → `KnnResult` `[n, k]`, `k <= n - 1`.
pub fn knn_self(embeddings: &Embeddings<'_>, config: &KnnConfig) -> EvalResult<KnnResult> {
    embeddings.validate("embeddings")?;
    let n = embeddings.rows();
    config.check(n - 1, true)?;
    let (k, distance, bs) = (config.k, config.distance, config.block_size);
    let prep = Prepared::new(embeddings, distance);
    let blocks = n.div_ceil(bs);
    let bounds = |b: usize| (b * bs, ((b + 1) * bs).min(n));
    let states: Vec<Mutex<Option<TopKBlock>>> = (0..blocks)
        .map(|b| {
            let (s, e) = bounds(b);
            Mutex::new(Some(TopKBlock::new(e - s, k)))
        })
        .collect();
    let pairs: Vec<(usize, usize)> =
        (0..blocks).flat_map(|i| (i..blocks).map(move |j| (i, j))).collect();
    pairs.par_iter().for_each_init(
        || (vec![0.0f32; bs * bs], vec![0.0f32; bs * bs]),
        |(prod, trans), &(bi, bj)| {
            let (i0, i1) = bounds(bi);
            let (j0, j1) = bounds(bj);
            let (m, c) = (i1 - i0, j1 - j0);
            let prod = &mut prod[..m * c];
            matmul_abt(prep.rows(i0, i1), prep.rows(j0, j1), prod, m, c, prep.dim);
            if bi != bj {
                // Transposed copy first: it needs the raw products, keyed by the row norms.
                let trans = &mut trans[..m * c];
                transpose(prod, trans, m, c);
                to_keys(trans, m, &prep.sq_norms[i0..i1], distance);
                let mut guard = states[bj].lock().expect("top-k state poisoned");
                let state = guard.as_mut().expect("state alive");
                for col in 0..c {
                    state.push_row(col, &trans[col * m..(col + 1) * m], i0 as u32, usize::MAX);
                }
            }
            to_keys(prod, c, &prep.sq_norms[j0..j1], distance);
            let mut guard = states[bi].lock().expect("top-k state poisoned");
            let state = guard.as_mut().expect("state alive");
            for r in 0..m {
                let skip = if bi == bj { r } else { usize::MAX };
                state.push_row(r, &prod[r * c..(r + 1) * c], j0 as u32, skip);
            }
        },
    );
    let mut indices = vec![0u32; n * k];
    let mut scores = vec![0.0f32; n * k];
    indices.par_chunks_mut(bs * k).zip(scores.par_chunks_mut(bs * k)).enumerate().for_each(
        |(b, (idx, sc))| {
            let s = bounds(b).0;
            let mut state =
                states[b].lock().expect("top-k state poisoned").take().expect("state alive");
            write_block(&mut state, s, &prep.sq_norms, distance, k, idx, sc);
        },
    );
    Ok(KnnResult { rows: n, k, indices, scores, distance })
}

/// Query-versus-gallery retrieval (In-shop): the `k` nearest references of every query. No
/// index is excluded.
///
/// Memory: one `block_size x 1.5k` top-k buffer and one `block_size^2` product per thread.
///
/// # Shapes
/// `query`: `[nq, d]`, `reference`: `[nr, d]` → `KnnResult` `[nq, k]`, `k <= nr`.
pub fn knn_query(
    query: &Embeddings<'_>,
    reference: &Embeddings<'_>,
    config: &KnnConfig,
) -> EvalResult<KnnResult> {
    query.validate("query")?;
    reference.validate("reference")?;
    if query.dim() != reference.dim() {
        return Err(EvalError::LengthMismatch {
            field: "reference",
            detail: format!(
                "has dimension {}, but `query` has dimension {}",
                reference.dim(),
                query.dim()
            ),
        });
    }
    let (nq, nr) = (query.rows(), reference.rows());
    config.check(nr, false)?;
    let (k, distance, bs) = (config.k, config.distance, config.block_size);
    let q = Prepared::new(query, distance);
    let r = Prepared::new(reference, distance);
    let mut indices = vec![0u32; nq * k];
    let mut scores = vec![0.0f32; nq * k];
    indices.par_chunks_mut(bs * k).zip(scores.par_chunks_mut(bs * k)).enumerate().for_each_init(
        || vec![0.0f32; bs * bs],
        |prod, (b, (idx, sc))| {
            let (i0, i1) = (b * bs, ((b + 1) * bs).min(nq));
            let m = i1 - i0;
            let mut state = TopKBlock::new(m, k);
            for j0 in (0..nr).step_by(bs) {
                let j1 = (j0 + bs).min(nr);
                let c = j1 - j0;
                let prod = &mut prod[..m * c];
                matmul_abt(q.rows(i0, i1), r.rows(j0, j1), prod, m, c, q.dim);
                to_keys(prod, c, &r.sq_norms[j0..j1], distance);
                for row in 0..m {
                    state.push_row(row, &prod[row * c..(row + 1) * c], j0 as u32, usize::MAX);
                }
            }
            write_block(&mut state, i0, &q.sq_norms, distance, k, idx, sc);
        },
    );
    Ok(KnnResult { rows: nq, k, indices, scores, distance })
}
