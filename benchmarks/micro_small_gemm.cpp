// Per-step matmul at small batch: the
// register-blocked AVX2 micro-kernel of rnn_common.h (B <= 2, and B <= 8 at H = 64),
// against MKL's packed GEMM (what the kernels use above that); small_mm_old is the kernel
// without the 6-row tile added in session 3.
// Build and run (prints microseconds per call and GFLOP/s):
//   TL=$(.venv/bin/python -c "import torch,os;print(os.path.dirname(torch.__file__))")/lib
//   g++ -O3 -march=native benchmarks/micro_small_gemm.cpp -o /tmp/sg \
//       -L$TL -ltorch_cpu -lc10 -Wl,-rpath,$TL && /tmp/sg
#include <immintrin.h>

template <int R, int V>
inline void small_mm_tile(const float* h, int K, const float* M, int N, float* out, bool acc_in) {
  int n = 0;
  for (; n + 8 * V <= N; n += 8 * V) {
    __m256 acc[R][V];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v)
        acc[r][v] = acc_in ? _mm256_loadu_ps(out + r * N + n + 8 * v) : _mm256_setzero_ps();
    for (int k = 0; k < K; ++k) {
      const float* m = M + (long)k * N + n;
      __m256 w[V];
      for (int v = 0; v < V; ++v) w[v] = _mm256_loadu_ps(m + 8 * v);
      for (int r = 0; r < R; ++r) {
        const __m256 hv = _mm256_broadcast_ss(h + r * K + k);
        for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(hv, w[v], acc[r][v]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + r * N + n + 8 * v, acc[r][v]);
  }
  for (; n + 8 <= N; n += 8) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = acc_in ? _mm256_loadu_ps(out + r * N + n) : _mm256_setzero_ps();
    for (int k = 0; k < K; ++k) {
      const __m256 w = _mm256_loadu_ps(M + (long)k * N + n);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(h + r * K + k), w, acc[r]);
    }
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(out + r * N + n, acc[r]);
  }
  for (; n < N; ++n)
    for (int r = 0; r < R; ++r) {
      float s = acc_in ? out[r * N + n] : 0.f;
      for (int k = 0; k < K; ++k) s += h[r * K + k] * M[(long)k * N + n];
      out[r * N + n] = s;
    }
}
inline void small_mm_old(const float* h, int B, int K, const float* M, int N, float* out, bool acc_in) {
  int b = 0;
  for (; b + 4 <= B; b += 4) small_mm_tile<4, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 2 <= B; b += 2) small_mm_tile<2, 4>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b < B; ++b) small_mm_tile<1, 8>(h + b * K, K, M, N, out + b * N, acc_in);
}

inline void small_mm(const float* h, int B, int K, const float* M, int N, float* out, bool acc_in) {
  int b = 0;
  for (; b + 6 <= B; b += 6) small_mm_tile<6, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 4 <= B; b += 4) small_mm_tile<4, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 2 <= B; b += 2) small_mm_tile<2, 4>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b < B; ++b) small_mm_tile<1, 8>(h + b * K, K, M, N, out + b * N, acc_in);
}
extern "C" {
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src, int ld, float* dest);
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
}
#include <chrono>
#include <cstdio>
#include <vector>
extern "C" int mkl_set_num_threads_local_(const int*);
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
