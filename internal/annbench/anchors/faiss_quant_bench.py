#!/usr/bin/python3
"""FAISS anchor for Tandem's quantized indexes (internal/annbench).

--index IVF_SQ8: IndexIVFScalarQuantizer QT_8bit (index_factory "IVF<nlist>,SQ8")
--index IVF_PQ:  IndexIVFPQ (index_factory "IVF<nlist>,PQ<m>x8")
--index HNSW_SQ: IndexHNSWSQ QT_8bit (index_factory "HNSW<M>,SQ8"), efConstruction set
Sweeps nprobe (IVF) or efSearch (HNSW) and prints one JSON object per point,
as faiss_ivf_bench.py. params.index_bytes is len(faiss.serialize_index(index)):
the index's own bytes (FAISS keeps no raw vectors in these indexes).
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
    ap.add_argument("--index", required=True)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=56)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--sweep", default="1,2,4,8,16,32,64")
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    base = read_vecs(a.dir + "/base.fvecs", np.float32)
    q = read_vecs(a.dir + "/query.fvecs", np.float32, a.queries)
    gt = read_vecs(a.dir + "/groundtruth.ivecs", np.int32, a.queries)
    d = base.shape[1]
    rss0 = rss_mb()
    faiss.omp_set_num_threads(a.build_threads)
    t0, c0 = time.perf_counter(), cpu_seconds()
    if a.index == "IVF_SQ8":
        index = faiss.index_factory(d, "IVF%d,SQ8" % a.nlist)
    elif a.index == "IVF_PQ":
        index = faiss.index_factory(d, "IVF%d,PQ%dx8" % (a.nlist, a.m))
    elif a.index == "HNSW_SQ":
        index = faiss.index_factory(d, "HNSW%d,SQ8" % a.M)
        index.hnsw.efConstruction = a.ef_construction
    else:
        raise SystemExit("unknown index " + a.index)
    if a.index.startswith("IVF"):
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        ivf.cp.seed = 1
    index.train(base)
    index.add(base)
    build, build_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rss = rss_mb() - rss0
    nbytes = len(faiss.serialize_index(index))

    def setp(v):
        if a.index.startswith("IVF"):
            faiss.extract_index_ivf(index).nprobe = v
        else:
            index.hnsw.efSearch = v

    sweep = [int(s) for s in a.sweep.split(",") if s]
    if a.index.startswith("IVF"):
        sweep = [min(s, a.nlist) for s in sweep]
    res = {}
    faiss.omp_set_num_threads(1)
    for v in sweep:
        setp(v)
        _, labels = index.search(q, 10)
        res[v] = [recall_at_10(labels, gt), 0.0, 0.0]
    for _ in range(a.repeats):
        for v in sweep:
            setp(v)
            faiss.omp_set_num_threads(1)
            t0 = time.perf_counter()
            index.search(q, 10)
            res[v][1] = max(res[v][1], len(q) / (time.perf_counter() - t0))
            faiss.omp_set_num_threads(a.batch_threads)
            t0 = time.perf_counter()
            index.search(q, 10)
            res[v][2] = max(res[v][2], len(q) / (time.perf_counter() - t0))
    key = "nprobe" if a.index.startswith("IVF") else "ef"
    for v in sweep:
        params = {key: v, "build_threads": a.build_threads, "batch_threads": a.batch_threads,
                  "build_cpu_seconds": build_cpu, "index_bytes": nbytes, "faiss_version": faiss.__version__}
        if a.index.startswith("IVF"):
            params["nlist"] = a.nlist
        if a.index == "IVF_PQ":
            params["m"] = a.m
        if a.index == "HNSW_SQ":
            params["M"] = a.M
            params["efConstruction"] = a.ef_construction
        print(json.dumps({
            "engine": "faiss", "index": a.index, "params": params,
            "recall_at_10": res[v][0], "qps_1thread": res[v][1], "qps_batch": res[v][2],
            "build_seconds": build, "rss_mb": rss,
        }), flush=True)


if __name__ == "__main__":
    main()
