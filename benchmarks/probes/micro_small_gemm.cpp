// Per-step matmul at small batch: the register-blocked AVX2 micro-kernel of
// src/rnnkit/native/small_mm.h (B <= 2, and B <= 8 at H = 64; included, not copied), against
// MKL's packed GEMM (what the kernels use above that); small_mm_old is the kernel without
// the 6-row tile added in session 3. The MKL entry points come from the kernels' blas.h.
// Build and run (prints microseconds per call and GFLOP/s):
//   TL=$(.venv/bin/python -c "import torch,os;print(os.path.dirname(torch.__file__))")/lib
//   g++ -O3 -march=native -I src/rnnkit/native benchmarks/probes/micro_small_gemm.cpp \
//       -o /tmp/sg -L$TL -ltorch_cpu -lc10 -Wl,-rpath,$TL && /tmp/sg
#include "blas.h"
#include "small_mm.h"

#include <chrono>
#include <cstdio>
#include <vector>

#ifndef RNNKIT_SMALL_MM
#error "the micro-kernel needs AVX2 and FMA (build with -march=native on such a processor)"
#endif

inline void small_mm_old(const float* h, int B, int K, const float* M, int N, float* out, bool acc_in) {
  int b = 0;
  for (; b + 4 <= B; b += 4) small_mm_tile<4, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 2 <= B; b += 2) small_mm_tile<2, 4>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b < B; ++b) small_mm_tile<1, 8>(h + b * K, K, M, N, out + b * N, acc_in);
}

static void run(int B, int K, int N) {
  std::vector<float> w(N * K, 0.01f), h(B * K, 0.5f), c(B * N, 0.f);
  std::vector<float> buf(cblas_sgemm_pack_get_size(162, B, N, K) / 4 + 1);
  cblas_sgemm_pack(101, 162, 112, B, N, K, 1.0f, w.data(), K, buf.data());
  int iters = 4000000 / (B * K / 4);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) cblas_sgemm_compute(101, 111, 151, B, N, K, h.data(), K, buf.data(), N, 1.0f, c.data(), N);
  auto t1 = std::chrono::steady_clock::now();
  std::vector<float> wt(K * N, 0.01f);
  for (int i = 0; i < iters; ++i) small_mm(h.data(), B, K, wt.data(), N, c.data(), true);
  auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) small_mm_old(h.data(), B, K, wt.data(), N, c.data(), true);
  auto t3 = std::chrono::steady_clock::now();
  double m1 = std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
  double m2 = std::chrono::duration<double, std::micro>(t2 - t1).count() / iters;
  double m3 = std::chrono::duration<double, std::micro>(t3 - t2).count() / iters;
  printf("B=%d K=%d N=%d  mkl-packed %.2f us (%.1f GF/s)  6x16 %.2f us (%.1f)  old %.2f us (%.1f)\n", B, K, N, m1, 2.0*B*N*K/m1/1e3, m2, 2.0*B*N*K/m2/1e3, m3, 2.0*B*N*K/m3/1e3);
}

int main() {
  int one = 1; mkl_set_num_threads_local_(&one);
  for (int B : {1, 2, 4, 8, 16, 32, 64}) for (int K : {64, 128, 256}) run(B, K, 4 * K);  // forward
  for (int B : {4, 8, 16, 32}) for (int N : {64, 128}) run(B, 4 * N, N);  // backward shape
}
