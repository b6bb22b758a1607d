#!/usr/bin/env python3
"""FAISS IndexFlatL2 baseline for flat.BenchmarkScanBlock.

Single thread, 60000 x 784 random float32 (seeded numpy), k=10, queries
searched one at a time (nq=1). Prints queries/s. Run with /usr/bin/python3
(Debian packages python3-faiss python3-numpy).

Debian's faiss 1.7.3 is a generic build (no AVX2; faiss.get_compile_options()
says "OPTIMIZE GENERIC"), so it understates FAISS; faiss_flat.cpp beside this
file measures the same search against a FAISS built with AVX2.

    /usr/bin/python3 internal/index/flat/testdata/faiss_flat.py [seconds]
"""
import sys
import time

import faiss
import numpy as np

N, DIM, K, NQ = 60000, 784, 10, 64


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(6)
    xb = rng.uniform(-1, 1, size=(N, DIM)).astype(np.float32)
    xq = rng.uniform(-1, 1, size=(NQ, DIM)).astype(np.float32)
    index = faiss.IndexFlatL2(DIM)
    index.add(xb)
    for i in range(4):  # warm up
        index.search(xq[i:i + 1], K)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        i = done % NQ
        index.search(xq[i:i + 1], K)
        done += 1
    elapsed = time.perf_counter() - start
    print(f"faiss {faiss.__version__} IndexFlatL2 n={N} dim={DIM} k={K} nq=1 "
          f"threads=1: {done / elapsed:.1f} queries/s ({elapsed / done * 1e3:.3f} ms/query)")


if __name__ == "__main__":
    main()
