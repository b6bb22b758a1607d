// FAISS IndexFlatL2 baseline in C++, for when the installed Python faiss is
// a generic (non-AVX2) build. Same shape as faiss_flat.py: single thread,
// 60000 x 784 uniform[-1,1) float32, k=10, one query per search call.
//
// Build against a FAISS built with -DFAISS_OPT_LEVEL=avx2 (target faiss_avx2):
//   g++ -O2 -fopenmp -I$FAISS faiss_flat.cpp $FAISS/build/faiss/libfaiss_avx2.a \
//       -lopenblas -o /tmp/faiss_flat && /tmp/faiss_flat [seconds]
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
    const int n = 60000, dim = 784, k = 10, nq = 64;
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    omp_set_num_threads(1);
    std::mt19937 rng(6);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> xb(size_t(n) * dim), xq(size_t(nq) * dim);
    for (auto& x : xb) x = u(rng);
    for (auto& x : xq) x = u(rng);
    faiss::IndexFlatL2 index(dim);
    index.add(n, xb.data());
    std::vector<float> D(k);
    std::vector<faiss::idx_t> I(k);
    for (int i = 0; i < 4; i++) index.search(1, xq.data() + size_t(i) * dim, k, D.data(), I.data());
    auto start = std::chrono::steady_clock::now();
    long done = 0;
    double elapsed = 0;
    while (elapsed < seconds) {
        index.search(1, xq.data() + size_t(done % nq) * dim, k, D.data(), I.data());
        done++;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    printf("faiss C++ IndexFlatL2 n=%d dim=%d k=%d nq=1 threads=1: %.1f queries/s (%.3f ms/query)\n",
           n, dim, k, done / elapsed, elapsed / done * 1e3);
    return 0;
}
