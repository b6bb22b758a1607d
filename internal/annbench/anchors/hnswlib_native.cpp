// Native hnswlib anchor for Tandem's ANN benchmark (internal/annbench).
//
// The same measurement as hnswlib_bench.py, but against hnswlib compiled on
// this machine from Debian's libhnswlib-dev headers with -O3 -march=native
// (so with the widest SIMD the CPU has), rather than Debian's generic
// python3-hnswlib build. `tandem bench ann` compiles this file into its
// cache directory and runs it in the same run.
//
// Loads base.fvecs, query.fvecs and groundtruth.ivecs from --dir, builds an
// index (space L2, --M, --ef-construction, random seed 100 as the Python
// anchor; --build-threads threads calling addPoint), sweeps --efs and prints
// one JSON object per ef on stdout:
//
//   engine ("hnswlib-native"), index, params, recall_at_10, qps_1thread,
//   qps_batch, build_seconds, rss_mb
//
// qps_1thread: searchKnn for every query, one after another on one thread.
// qps_batch: --batch-threads threads taking queries from a shared counter.
// Each is the best of --repeats passes, taken in rounds over the sweep.
// build_cpu_seconds (in params): process CPU time of the build. rss_mb:
// VmRSS after the build minus after loading (includes hnswlib's copy of the
// vectors). Errors go to stderr with exit status 1.
#include <hnswlib/hnswlib.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

struct Mat {
    size_t n = 0, d = 0;
    std::vector<char> data;  // n rows of d 4-byte values
    const float *frow(size_t i) const { return reinterpret_cast<const float *>(data.data()) + i * d; }
    const int32_t *irow(size_t i) const { return reinterpret_cast<const int32_t *>(data.data()) + i * d; }
};

// readVecs reads a TEXMEX .fvecs / .ivecs file (little-endian; every record
// an int32 d then d 4-byte values); limit > 0 keeps the first limit rows.
Mat readVecs(const std::string &path, size_t limit) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (raw.size() < 4) throw std::runtime_error(path + ": file too short");
    int32_t d;
    std::memcpy(&d, raw.data(), 4);
    if (d <= 0 || d > (1 << 20)) throw std::runtime_error(path + ": bad dimension");
    size_t rec = 4 + 4 * size_t(d);
    if (raw.size() % rec != 0) throw std::runtime_error(path + ": not a whole number of records");
    Mat m;
    m.d = size_t(d);
    m.n = raw.size() / rec;
    if (limit > 0 && limit < m.n) m.n = limit;
    m.data.resize(m.n * m.d * 4);
    for (size_t i = 0; i < m.n; i++) {
        int32_t di;
        std::memcpy(&di, raw.data() + i * rec, 4);
        if (di != d) throw std::runtime_error(path + ": records of different dimensions");
        std::memcpy(m.data.data() + i * m.d * 4, raw.data() + i * rec + 4, m.d * 4);
    }
    return m;
}

double rssMB() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    }
    return 0;
}

double cpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// parallelFor runs fn(i) for i in [0, n) on threads threads.
template <class F>
void parallelFor(size_t n, int threads, F fn) {
    if (threads <= 1) {
        for (size_t i = 0; i < n; i++) fn(i);
        return;
    }
    std::atomic<size_t> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
        ts.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
        });
    }
    for (auto &t : ts) t.join();
}

std::vector<int> parseInts(const std::string &s) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ','))
        if (!tok.empty()) out.push_back(std::stoi(tok));
    return out;
}

}  // namespace

int main(int argc, char **argv) try {
    std::string dir, efsArg = "10,20,40,80,160";
    int M = 16, efc = 200, buildThreads = 2, batchThreads = 2, repeats = 3;
    size_t queries = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--dir") dir = v;
        else if (k == "--M") M = std::stoi(v);
        else if (k == "--ef-construction") efc = std::stoi(v);
        else if (k == "--efs") efsArg = v;
        else if (k == "--queries") queries = std::stoul(v);
        else if (k == "--build-threads") buildThreads = std::stoi(v);
        else if (k == "--batch-threads") batchThreads = std::stoi(v);
        else if (k == "--repeats") repeats = std::stoi(v);
        else throw std::runtime_error("unknown flag " + k);
    }
    if (dir.empty()) throw std::runtime_error("--dir is required");
    Mat base = readVecs(dir + "/base.fvecs", 0);
    Mat q = readVecs(dir + "/query.fvecs", queries);
    Mat gt = readVecs(dir + "/groundtruth.ivecs", queries);
    if (q.d != base.d) throw std::runtime_error("query and base dimensions differ");
    if (gt.n != q.n || gt.d < 10) throw std::runtime_error("ground truth does not match the queries");
    double rss0 = rssMB();

    hnswlib::L2Space space(base.d);
    double t0 = now(), c0 = cpuSeconds();
    hnswlib::HierarchicalNSW<float> idx(&space, base.n, M, efc, 100);
    idx.addPoint(base.frow(0), 0);
    parallelFor(base.n - 1, buildThreads, [&](size_t i) { idx.addPoint(base.frow(i + 1), i + 1); });
    double build = now() - t0, buildCPU = cpuSeconds() - c0;
    double rss = rssMB() - rss0;

    std::vector<int> efs = parseInts(efsArg);
    std::vector<double> recall(efs.size()), qps1(efs.size()), qpsb(efs.size());
    std::vector<std::vector<size_t>> labels(q.n);
    for (size_t e = 0; e < efs.size(); e++) {
        idx.setEf(std::max(efs[e], 10));
        size_t hits = 0;
        for (size_t i = 0; i < q.n; i++) {
            auto r = idx.searchKnn(q.frow(i), 10);
            std::unordered_set<int32_t> want(gt.irow(i), gt.irow(i) + 10);
            while (!r.empty()) {
                hits += want.count(int32_t(r.top().second));
                r.pop();
            }
        }
        recall[e] = double(hits) / (10.0 * q.n);
    }
    size_t sink = 0;
    for (int rep = 0; rep < repeats; rep++) {
        for (size_t e = 0; e < efs.size(); e++) {
            idx.setEf(std::max(efs[e], 10));
            double t = now();
            for (size_t i = 0; i < q.n; i++) sink += idx.searchKnn(q.frow(i), 10).size();
            qps1[e] = std::max(qps1[e], q.n / (now() - t));
            std::atomic<size_t> bs{0};
            t = now();
            parallelFor(q.n, batchThreads, [&](size_t i) { bs += idx.searchKnn(q.frow(i), 10).size(); });
            qpsb[e] = std::max(qpsb[e], q.n / (now() - t));
            sink += bs;
        }
    }
    for (size_t e = 0; e < efs.size(); e++) {
        std::printf(
            "{\"engine\": \"hnswlib-native\", \"index\": \"HNSW\", \"params\": {\"M\": %d, \"efConstruction\": %d, "
            "\"ef\": %d, \"build_threads\": %d, \"batch_threads\": %d, \"build_cpu_seconds\": %.4f}, "
            "\"recall_at_10\": %.6f, \"qps_1thread\": %.3f, \"qps_batch\": %.3f, \"build_seconds\": %.4f, "
            "\"rss_mb\": %.3f}\n",
            M, efc, std::max(efs[e], 10), buildThreads, batchThreads, buildCPU, recall[e], qps1[e], qpsb[e], build, rss);
    }
    std::fflush(stdout);
    if (sink == size_t(-1)) std::fputs("", stderr);  // keeps the timed searches observable
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "hnswlib_native: %s\n", e.what());
    return 1;
}
