"""faiss-cpu baseline for crates/dml-eval/examples/bench_sop_knn.rs.

Reads the data the Rust benchmark wrote (`--write-npy DIR`), runs an exact IndexFlatIP search
with k = 1001 (the query itself comes back first; dropping it leaves the k = 1000 neighbours the
Rust search returns), with the same thread count, and prints the search time, peak memory and
Recall@{1,10,100,1000} (a sanity check that both searched the same data).

  apt-get install -y python3-faiss
  /usr/bin/python3 tools/bench_faiss_knn.py DIR [threads=2]
"""

import resource
import sys
import time

import faiss
import numpy as np


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    folder = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    faiss.omp_set_num_threads(threads)
    x = np.load(f"{folder}/sop_embeddings.npy")
    labels = np.load(f"{folder}/sop_labels.npy")
    n, d = x.shape
    print(f"faiss {faiss.__version__}, threads {threads}, data {n} x {d}")
    before = peak_mib()
    t, cpu0 = time.perf_counter(), time.process_time()
    index = faiss.IndexFlatIP(d)
    index.add(x)
    _, idx = index.search(x, 1001)
    search_s = time.perf_counter() - t
    search_cpu = time.process_time() - cpu0
    # Drop the query's own index (or the last column when it is absent), as PML does.
    own = idx == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    idx = idx[~own].reshape(n, 1000)
    hits = labels[idx] == labels[:, None]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), 10**9)
    recalls = "  ".join(f"R@{k}: {np.mean(first < k):.4f}" for k in (1, 10, 100, 1000))
    print(recalls)
    print(f"search CPU time (user + sys, all threads): {search_cpu:.2f} s")
    print(f"search (IndexFlatIP, k = 1001): {search_s:.2f} s")
    print(f"peak memory (ru_maxrss): {peak_mib():.0f} MiB ({before:.0f} MiB after loading the data)")


if __name__ == "__main__":
    main()
