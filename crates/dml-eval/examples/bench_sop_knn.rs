//! SOP-scale benchmark: 60,502 x 512 normalised embeddings in 11,316 classes (the size of
//! Stanford Online Products' test split), exact self-retrieval k-NN with k = 1000,
//! Recall@{1, 10, 100, 1000} and MAP@R; prints wall time, GFLOP/s and peak memory (VmHWM).
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p dml-eval --example bench_sop_knn -- \
//!     [--write-npy DIR] [--n N] [--k K] [--block B]
//! ```
//! `--write-npy DIR` also writes `DIR/sop_embeddings.npy` (float32) and `DIR/sop_labels.npy`
//! (int64) for `tools/bench_faiss_knn.py`.

use std::io::Write;
use std::time::Instant;

use dml_eval::gemm::matmul_abt;
use dml_eval::{Embeddings, KnnConfig, knn_self, retrieval_metrics_self};
use rayon::prelude::*;

const DIM: usize = 512;
const SEED: u64 = 20_260_523;

/// SplitMix64 with Box-Muller normals.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// Class sizes 2..=12 (as in SOP's test split) summing to `n`, then embeddings
/// `normalize(centre_c + 2 * noise)`.
fn sop_like(n: usize, classes: usize) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Rng(SEED);
    let mut sizes = vec![2usize; classes];
    let mut left = n - 2 * classes;
    while left > 0 {
        let c = (rng.next_u64() % classes as u64) as usize;
        if sizes[c] < 12 {
            sizes[c] += 1;
            left -= 1;
        }
    }
    let mut labels: Vec<i64> =
        sizes.iter().enumerate().flat_map(|(c, &s)| std::iter::repeat_n(c as i64, s)).collect();
    // Shuffle (Fisher-Yates) so that classes are not contiguous.
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        labels.swap(i, j);
    }
    let centres: Vec<f32> = (0..classes * DIM).map(|_| rng.normal()).collect();
    let mut data = vec![0.0f32; n * DIM];
    for (row, &l) in data.chunks_mut(DIM).zip(&labels) {
        let c = &centres[l as usize * DIM..][..DIM];
        for (x, &m) in row.iter_mut().zip(c) {
            *x = m + 2.0 * rng.normal();
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    (data, labels)
}

fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of /proc/self/stat; `after` starts at field 3.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (field(11) + field(12)) / 100.0
}

fn write_npy(path: &str, descr: &str, shape: &str, bytes: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create npy"));
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(bytes).unwrap();
}

/// Throughput of the same gemm kernel on independent 512 x 512 x 512 blocks, one per thread.
fn gemm_peak_gflops() -> f64 {
    let b = 512;
    let a: Vec<f32> = (0..b * DIM).map(|i| (i % 97) as f32 * 0.01).collect();
    let reps = 40;
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        let mut out = vec![0.0f32; b * b];
        for _ in 0..reps {
            matmul_abt(&a, &a, &mut out, b, b, DIM);
        }
    });
    (threads * reps) as f64 * 2.0 * (b * b * DIM) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let n: usize = arg("--n").map_or(60_502, |v| v.parse().expect("--n"));
    let classes = (n as f64 * 11_316.0 / 60_502.0).round() as usize;
    let k = arg("--k").map_or(1000, |v| v.parse().expect("--k")).min(n - 1);
    let block = arg("--block").map_or(512, |v| v.parse().expect("--block"));
    println!("threads: {}", rayon::current_num_threads());

    let t = Instant::now();
    let (data, labels) = sop_like(n, classes);
    println!(
        "data: {n} x {DIM}, {classes} classes, generated in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    if let Some(dir) = arg("--write-npy") {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&format!("{dir}/sop_embeddings.npy"), "<f4", &format!("({n}, {DIM})"), &bytes);
        let bytes: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&format!("{dir}/sop_labels.npy"), "<i8", &format!("({n},)"), &bytes);
        println!("wrote {dir}/sop_embeddings.npy, {dir}/sop_labels.npy");
    }
    let before = vm_hwm_mib();

    let emb = Embeddings::from_slice(&data, DIM).expect("embeddings");
    let (t, cpu0) = (Instant::now(), cpu_seconds());
    let knn = knn_self(&emb, &KnnConfig::new(k).with_block_size(block)).expect("knn");
    let knn_s = t.elapsed().as_secs_f64();
    let knn_cpu = cpu_seconds() - cpu0;
    let t = Instant::now();
    let recall_at: Vec<usize> = [1, 10, 100, 1000].into_iter().filter(|&x| x <= k).collect();
    let m = retrieval_metrics_self(&knn, &labels, &recall_at, false).expect("metrics");
    let metric_s = t.elapsed().as_secs_f64();

    // FLOPs: the full N x N product a plain search does, and what the symmetric search executes
    // (the upper triangle of blocks, diagonal blocks included).
    let nf = n as f64;
    let full = 2.0 * nf * nf * DIM as f64;
    let blocks = n.div_ceil(block) as f64;
    let executed = full * (blocks + 1.0) / (2.0 * blocks);
    for (kk, r) in &m.overall.recall_at {
        println!("Recall@{kk}: {r:.4}");
    }
    println!(
        "MAP@R: {:.4}  R-precision: {:.4}  MRR: {:.4}",
        m.overall.map_at_r, m.overall.r_precision, m.overall.mean_reciprocal_rank
    );
    println!("queries: {} evaluated, {} lone", m.overall.num_queries, m.num_lone_queries);
    println!("knn CPU time (user + sys, all threads): {knn_cpu:.2} s");
    println!(
        "knn (k = {k}): {knn_s:.2} s; metrics: {metric_s:.2} s; total {:.2} s",
        knn_s + metric_s
    );
    println!(
        "GFLOP/s: {:.1} executed ({:.2} TFLOP), {:.1} effective (full N x N product, {:.2} TFLOP)",
        executed / knn_s / 1e9,
        executed / 1e12,
        full / knn_s / 1e9,
        full / 1e12
    );
    println!(
        "peak memory (VmHWM): {:.0} MiB ({:.0} MiB after data generation)",
        vm_hwm_mib(),
        before
    );
    println!(
        "gemm kernel throughput, 512^3 blocks, all threads: {:.1} GFLOP/s",
        gemm_peak_gflops()
    );
}
