// The AVX2 micro-kernel for the per-step float32 matmuls at small batch (use_small_mm in
// gemm.h says when). Plain intrinsics, no ATen: benchmarks/probes/micro_small_gemm.cpp
// includes this file to time it against MKL.
#pragma once

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

#if defined(__AVX2__) && defined(__FMA__)
#define RNNKIT_SMALL_MM 1
// Register-blocked float32 micro-kernel for the per-step matmuls at batch 1-2, where MKL's
// sgemm runs at ~5 GFLOP/s (its n=1 path is latency-bound) and this reaches 20-40 GFLOP/s
// (measured on the AMD EPYC of docs/PERFORMANCE.md). A tile keeps R rows x V vectors of the
// output in registers while streaming the weight rows once.
// out (R, N) = [out +] h (R, K) @ M (K, N); M row-major (row stride N). V vectors of 8 per tile.
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
  for (; b + 6 <= B; b += 6) small_mm_tile<6, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 4 <= B; b += 4) small_mm_tile<4, 2>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b + 2 <= B; b += 2) small_mm_tile<2, 4>(h + b * K, K, M, N, out + b * N, acc_in);
  for (; b < B; ++b) small_mm_tile<1, 8>(h + b * K, K, M, N, out + b * N, acc_in);
}
#endif

}  // namespace
