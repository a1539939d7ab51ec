// Shared by rnnkit's native kernels (rnn_kernels.cpp) and the generated custom-cell
// kernels (custom_loop.h): BLAS entry points, the small-batch micro-kernel, packed
// weights, fast float32 activations and the threading rules. See rnn_kernels.cpp for why.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/utils/pybind.h>

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <vector>

using at::Tensor;

extern "C" {
// Fortran BLAS (LP64), as exported by the MKL inside libtorch_cpu.
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*);
// MKL's packed GEMM (CBLAS enums: 101 row-major, 111/112 no-trans/trans, 151 packed,
// 162 the B matrix): the recurrent weights are packed once per call instead of once per step.
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha,
                      const float* src, int ld, float* dest);
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a,
                         int lda, const float* b, int ldb, float beta, float* c, int ldc);
// MKL's thread count for the calling thread; returns the previous one (0: the global one).
// libtorch_cpu exports only the Fortran-style entry, which takes its argument by pointer.
int mkl_set_num_threads_local_(const int*);
}

namespace {

inline void gemm(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  sgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  if (m == 0 || n == 0) return;
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

// C (B, N) = beta C + X (B, K) @ W^T, with W (N, K): the recurrent matmul of a step.
template <typename T>
inline void mm_xwt(const T* x, const T* w, T* c, int B, int N, int K, T beta) {
  gemm('T', 'N', N, B, K, T(1), w, K, x, K, beta, c, N);
}
// C (B, K) = beta C + D (B, N) @ W, with W (N, K): the gradient through that matmul.
template <typename T>
inline void mm_dw(const T* d, const T* w, T* c, int B, int N, int K, T beta) {
  gemm('N', 'N', K, B, N, T(1), w, K, d, N, beta, c, K);
}

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

// The recurrent weights of one call packed for MKL's GEMM kernels: a per-step sgemm would
// otherwise re-pack the whole (G*H, Hr) matrix every step, a full pass over the weights.
// Row-major: c (B, n) = beta c + a (B, k) @ op(W), op(W) (k, n). float32 only.
struct PackedWeights {
  // Uninitialised on purpose: MKL asks for ~5.8 MB whatever the matrix (measured for a
  // 256 x 64 one), and zero-filling that per call cost ~0.5-1 ms (14% of an LSTM B=16, H=64
  // forward in perf). Untouched pages are never faulted in.
  std::unique_ptr<float[]> buf;
  int n = 0, k = 0;
  bool active() const { return buf != nullptr; }
  // RNNKIT_NATIVE_NO_PACK=1 turns packing off (per-step sgemm instead), for A/B timing.
  static bool enabled() { return std::getenv("RNNKIT_NATIVE_NO_PACK") == nullptr; }
  // W is (rows, cols) row-major; trans=true packs W^T (cols x rows is op(W) = W^T).
  void pack(const float* w, int rows, int cols, bool trans, int B) {
    n = trans ? rows : cols;
    k = trans ? cols : rows;
    buf.reset(new float[cblas_sgemm_pack_get_size(162, B, n, k) / sizeof(float) + 1]);
    cblas_sgemm_pack(101, 162, trans ? 112 : 111, B, n, k, 1.0f, w, cols, buf.get());
  }
  void mm(const float* a, float* c, int B, float beta) const {
    cblas_sgemm_compute(101, 111, 151, B, n, k, a, k, buf.get(), n, beta, c, n);
  }
};

// Per-step matmul against W (N, K): c (B, N) = beta c + x (B, K) @ W^T. ``wt`` is W^T
// (K, N) contiguous when the micro-kernel is in use (float32, small B), else null.
template <typename T>
inline void rec_mm(const T* x, const T* w, const T* wt, T* c, int B, int N, int K, T beta,
                   const PackedWeights* packed = nullptr) {
  if constexpr (std::is_same_v<T, float>) {
    if (packed && packed->active()) return packed->mm(x, c, B, beta);
  }
#ifdef RNNKIT_SMALL_MM
  if constexpr (std::is_same_v<T, float>) {
    if (wt) return small_mm(x, B, K, wt, N, c, beta != T(0));
  }
#endif
  mm_xwt<T>(x, w, c, B, N, K, beta);
}
// Its gradient: c (B, K) = beta c + d (B, N) @ W, W (N, K) row-major as it is.
template <typename T>
inline void rec_mm_grad(const T* d, const T* w, bool small, T* c, int B, int N, int K, T beta,
                        const PackedWeights* packed = nullptr) {
  if constexpr (std::is_same_v<T, float>) {
    if (packed && packed->active()) return packed->mm(d, c, B, beta);
  }
#ifdef RNNKIT_SMALL_MM
  if constexpr (std::is_same_v<T, float>) {
    if (small) return small_mm(d, B, N, w, K, c, beta != T(0));
  }
#endif
  mm_dw<T>(d, w, c, B, N, K, beta);
}
// Where the micro-kernel beats MKL's packed GEMM (benchmarks/micro_small_gemm.cpp, AMD
// EPYC, one thread): batch 1-2 with weights within ~1 MB (L2-sized); and, with its 6-row x
// 16-column tile (12 accumulators), batch 3-8 when the recurrent matrix is at most 64 wide
// and 2^14 elements. Per GEMM it took 0.68-0.82x MKL's time at H = 64, B = 4-16 (and lost
// at H = 128); per training step / inference, two A/B runs of benchmarks/small_mm_ab.py gave
// 0.78-1.11x at B = 4-8 (mostly faster) but 0.93-1.17x at B = 16 (no gain), hence 8. Past ~1 MB both stream W from memory and the kernel's column-tiled
// walk over W^T loses to MKL's contiguous one (0.74-0.89x of torch.nn at H = 1024).
// RNNKIT_NATIVE_SMALL_MM_MAX_B caps the batch for the second rule (A/B timing; default 8).
template <typename T>
inline bool use_small_mm(int64_t B, int64_t rows, int64_t cols) {
#ifdef RNNKIT_SMALL_MM
  if (!std::is_same_v<T, float>) return false;
  if (B <= 2) return rows * cols <= (int64_t(1) << 18);
  const char* env = std::getenv("RNNKIT_NATIVE_SMALL_MM_MAX_B");  // per call: A/B in one process
  const int64_t max_b = env ? std::atoll(env) : 8;
  return B <= max_b && cols <= 64 && rows * cols <= (int64_t(1) << 14);
#else
  return false;
#endif
}

template <typename T>
struct Act;

template <>
struct Act<float> {
  static inline float exp(float x) {
    // Clamp so that 2^n stays a normal float; exp(-87) ~ 1.6e-38, exp(88) ~ 1.7e38.
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x/ln2)
    float r = x - n * 0.693359375f;  // Cody-Waite: ln2 split in an exact and a small part
    r = r + n * 2.12194440e-4f;
    const float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    const int e = (static_cast<int>(n) + 127) << 23;
    return p * __builtin_bit_cast(float, e);
  }
  static inline float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }
  static inline float tanh(float x) { return 1.0f - 2.0f / (1.0f + exp(2.0f * x)); }
};

template <>
struct Act<double> {
  static inline double exp(double x) { return std::exp(x); }
  static inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static inline double tanh(double x) { return std::tanh(x); }
};

// Rows per task so that a task has at least ~16K gate elements: below that, waking the
// second thread costs more than it saves (measured on 2 cores; see docs/PERFORMANCE.md).
inline int64_t grain_rows(int64_t width) { return std::max<int64_t>(1, 16384 / width); }

template <typename F>
inline void for_rows(int64_t B, int64_t width, const F& f) {
  if (B * width < 2 * 16384) {
    f(0, B);
  } else {
    at::parallel_for(0, B, grain_rows(width), f);
  }
}

// Per-step GEMMs smaller than this many multiply-adds run on one thread. Their fork/join
// costs microseconds when idle and milliseconds when another process holds the other core
// (an OpenMP barrier waits for a descheduled thread), while the arithmetic takes ~20 us.
constexpr int64_t kThreadedGemmMacs = int64_t(1) << 20;
// The same for the batched matmuls before and after the time loop (input projection, weight
// gradients): one call each, so the bar is higher.
constexpr int64_t kBatchedThreadedMacs = int64_t(1) << 23;

// Sets MKL's thread count for the current thread for the life of the time loop.
struct StepGemmThreads {
  int previous;
  explicit StepGemmThreads(int64_t macs, int64_t threshold = kThreadedGemmMacs)
      : previous(set(macs < threshold ? 1 : 0)) {}
  ~StepGemmThreads() { set(previous); }
  static int set(int n) { return mkl_set_num_threads_local_(&n); }
};

template <typename T>
inline T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

inline Tensor opt(const c10::optional<Tensor>& t) { return t.has_value() ? *t : Tensor(); }

}  // namespace
