#!/usr/bin/python3
"""FAISS IndexIVFFlat anchor for Tandem's ANN benchmark (internal/annbench).

Loads the same .fvecs/.ivecs files as the Go harness, trains an
IndexIVFFlat (L2, --nlist lists, k-means with niter=--iters and FAISS's
default sample of at most 256*nlist points, the same bounds Tandem uses),
adds the base, sweeps nprobe and prints one JSON object per nprobe on stdout:

  engine, index, params, recall_at_10, qps_1thread, qps_batch,
  build_seconds, rss_mb

qps_1thread: one search call over all queries with omp_set_num_threads(1)
(FAISS batches the coarse quantizer of all queries into one matrix product,
an advantage over one-query-at-a-time). qps_batch: the same call with
--batch-threads OpenMP threads. Each is the best of --repeats passes, taken
in rounds over the sweep. The build (train + add) uses --build-threads
threads; params.build_cpu_seconds is the process CPU time it took. rss_mb:
VmRSS after the build minus VmRSS after loading the data (FAISS keeps its
own copy of the vectors in the inverted lists).
Run with Debian's /usr/bin/python3 (python3-faiss, python3-numpy).
"""
import argparse
import json
import resource
import time

import faiss
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
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobes", default="1,2,4,8,16,32,64")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    base = read_vecs(a.dir + "/base.fvecs", np.float32)
    q = read_vecs(a.dir + "/query.fvecs", np.float32, a.queries)
    gt = read_vecs(a.dir + "/groundtruth.ivecs", np.int32, a.queries)
    rss0 = rss_mb()

    faiss.omp_set_num_threads(a.build_threads)
    t0, c0 = time.perf_counter(), cpu_seconds()
    quantizer = faiss.IndexFlatL2(base.shape[1])
    index = faiss.IndexIVFFlat(quantizer, base.shape[1], a.nlist, faiss.METRIC_L2)
    index.cp.niter = a.iters
    index.cp.seed = 1
    index.train(base)
    index.add(base)
    build, build_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rss = rss_mb() - rss0

    nprobes = [min(int(s), a.nlist) for s in a.nprobes.split(",") if s]
    res = {}
    faiss.omp_set_num_threads(1)
    for np_ in nprobes:
        index.nprobe = np_
        _, labels = index.search(q, 10)
        res[np_] = [recall_at_10(labels, gt), 0.0, 0.0]
    for _ in range(a.repeats):
        for np_ in nprobes:
            index.nprobe = np_
            faiss.omp_set_num_threads(1)
            t0 = time.perf_counter()
            index.search(q, 10)
            res[np_][1] = max(res[np_][1], len(q) / (time.perf_counter() - t0))
            faiss.omp_set_num_threads(a.batch_threads)
            t0 = time.perf_counter()
            index.search(q, 10)
            res[np_][2] = max(res[np_][2], len(q) / (time.perf_counter() - t0))
    for np_ in nprobes:
        print(json.dumps({
            "engine": "faiss", "index": "IVF_FLAT",
            "params": {"nlist": a.nlist, "nprobe": np_, "iters": a.iters,
                       "build_threads": a.build_threads, "batch_threads": a.batch_threads,
                       "build_cpu_seconds": build_cpu, "faiss_version": faiss.__version__},
            "recall_at_10": res[np_][0],
            "qps_1thread": res[np_][1], "qps_batch": res[np_][2],
            "build_seconds": build, "rss_mb": rss,
        }), flush=True)


if __name__ == "__main__":
    main()
