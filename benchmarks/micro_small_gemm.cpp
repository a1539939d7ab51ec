// Per-step matmul at small batch: MKL's sgemm (as libtorch_cpu exports it) vs the
// register-blocked AVX2 micro-kernel that rnn_kernels.cpp uses at B <= 2.
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
inline void small_mm(const float* h, int B, int K, const float* M, int N, float* out, bool acc_in) {
  int b = 0;
  for (; b + 4 <= B; b += 4) small_mm_tile<4, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 2 <= B; b += 2) small_mm_tile<2, 4>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b < B; ++b) small_mm_tile<1, 8>(h + b * K, K, M, N, out + b * N, acc_in);
}
#include <chrono>
#include <cstdio>
#include <vector>
extern "C" void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*, const float*, const int*, const float*, float*, const int*);
extern "C" int mkl_set_num_threads_local_(const int*);

int main() {
  int one = 1; mkl_set_num_threads_local_(&one);
  for (int B : {1, 2, 4, 8, 16}) for (int K : {32, 64, 128}) {
    int N = 4 * K;
    std::vector<float> w(N * K, 0.01f), h(B * K, 0.5f), c(B * N, 0.f);
    float a = 1, be = 1; char t = 'T', nn = 'N';
    int iters = 200000;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) sgemm_(&t, &nn, &N, &B, &K, &a, w.data(), &K, h.data(), &K, &be, c.data(), &N);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<float> wt(K * N, 0.01f);  // W^T, as the kernel reads it
    for (int i = 0; i < iters; ++i) small_mm(h.data(), B, K, wt.data(), N, c.data(), true);
    auto t2 = std::chrono::steady_clock::now();
    double m1 = std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
    double m2 = std::chrono::duration<double, std::micro>(t2 - t1).count() / iters;
    printf("B=%d K=%d N=%d  mkl %.3f us (%.1f GF/s)  own %.3f us (%.1f GF/s)\n", B, K, N, m1, 2.0*B*N*K/m1/1e3, m2, 2.0*B*N*K/m2/1e3);
  }
}
