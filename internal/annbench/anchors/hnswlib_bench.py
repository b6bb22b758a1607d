#!/usr/bin/python3
"""hnswlib anchor for Tandem's ANN benchmark (internal/annbench).

Loads the same .fvecs/.ivecs files as the Go harness, builds an hnswlib
index (space l2, M, ef_construction given; build with --build-threads
threads, the same count Tandem uses), sweeps ef and prints one JSON object per
ef on stdout:

  engine, index, params, recall_at_10, qps_1thread, qps_batch,
  build_seconds, rss_mb

qps_1thread: one knn_query call over all queries with num_threads=1 (queries
answered one after another on one thread inside hnswlib, no per-query Python
overhead). qps_batch: the same call with num_threads=--batch-threads. Each is
the best of --repeats passes, taken in rounds over the whole ef sweep. build_cpu_seconds (in params): process CPU
time (user+system) spent in the build.
rss_mb: VmRSS after the build minus VmRSS after loading the data (hnswlib
keeps its own copy of the vectors, so this includes them).
Run with Debian's /usr/bin/python3 (python3-hnswlib, python3-numpy).
"""
import argparse
import json
import resource
import time

import hnswlib
import numpy as np


def read_vecs(path, dtype, limit=0):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if limit > 0:
        rows = rows[:limit]
    return np.ascontiguousarray(rows[:, 1:].view(dtype))


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def recall_at_10(labels, gt):
    hits = 0
    for i in range(len(labels)):
        hits += len(set(labels[i][:10].tolist()) & set(gt[i][:10].tolist()))
    return hits / (10.0 * len(labels))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--efs", default="10,20,40,80,160")
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    base = read_vecs(a.dir + "/base.fvecs", np.float32)
    q = read_vecs(a.dir + "/query.fvecs", np.float32, a.queries)
    gt = read_vecs(a.dir + "/groundtruth.ivecs", np.int32, a.queries)
    rss0 = rss_mb()

    idx = hnswlib.Index(space="l2", dim=base.shape[1])
    t0, c0 = time.perf_counter(), cpu_seconds()
    idx.init_index(max_elements=base.shape[0], M=a.M, ef_construction=a.ef_construction, random_seed=100)
    idx.add_items(base, np.arange(base.shape[0]), num_threads=a.build_threads)
    build, build_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rss = rss_mb() - rss0

    efs = [int(s) for s in a.efs.split(",") if s]
    res = {}
    for ef in efs:
        idx.set_ef(max(ef, 10))
        labels, _ = idx.knn_query(q, k=10, num_threads=1)
        res[ef] = [recall_at_10(labels, gt), 0.0, 0.0]
    # Timed passes in rounds over the sweep (best pass counts), as the Go side.
    for _ in range(a.repeats):
        for ef in efs:
            idx.set_ef(max(ef, 10))
            t0 = time.perf_counter()
            idx.knn_query(q, k=10, num_threads=1)
            res[ef][1] = max(res[ef][1], len(q) / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            idx.knn_query(q, k=10, num_threads=a.batch_threads)
            res[ef][2] = max(res[ef][2], len(q) / (time.perf_counter() - t0))
    for ef in efs:
        print(json.dumps({
            "engine": "hnswlib", "index": "HNSW",
            "params": {"M": a.M, "efConstruction": a.ef_construction, "ef": max(ef, 10),
                       "build_threads": a.build_threads, "batch_threads": a.batch_threads,
                       "build_cpu_seconds": build_cpu},
            "recall_at_10": res[ef][0],
            "qps_1thread": res[ef][1], "qps_batch": res[ef][2],
            "build_seconds": build, "rss_mb": rss,
        }), flush=True)


if __name__ == "__main__":
    main()
