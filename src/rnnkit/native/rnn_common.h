// Shared by rnnkit's native kernels (rnn_kernels.cpp) and the generated custom-cell
// kernels (custom_loop.h): BLAS entry points, the small-batch micro-kernel, packed
// weights, fast float32 activations and the threading rules. See rnn_kernels.cpp for why.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/utils/pybind.h>

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
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

#if defined(__AVX512F__)
#define RNNKIT_PANEL_MM 1
// Our own packed GEMM for the per-step and batched float32 matmuls on AVX-512 processors.
// On AMD processors MKL runs its generic kernels (`mkl_blas_def_sgemm_kernel_0_zen` in perf
// on an AMD EPYC Zen 4) while oneDNN's JIT kernels use AVX-512 there; this tile measured
// 97-110 GFLOP/s on our shapes against MKL's 68-76 (one thread). op(W) (k, n) is packed once
// per call into panels of 32 columns, row k of panel p at buf[(p * k_total + k) * 32], zero
// padded past n; a tile keeps MR rows x 32 columns of C in 2 * MR zmm registers while the
// panel streams through once, and the panel stays in L1/L2 across the row tiles.
namespace panel {
constexpr int NR = 32;
constexpr int MR = 12;  // 24 accumulators + 2 weight vectors + 1 broadcast of 32 registers

// A is read in place (row r, column kk at a[r * lda + kk]) or, PACKED, from a copy made MR
// rows at a time, k-major (ap[kk * MR + r]). The copy is needed for row strides that are a
// multiple of 4 KB: MR rows 4 KB apart all fall into one L1 set (seen in the LSTM
// backward, lda = 4H = 1024, slower than MKL until packed).
template <int R, bool PACKED>
inline void tile(const float* a, int lda, const float* p, int K, float* c, int ldc,
                 __mmask16 m0, __mmask16 m1, bool acc_in) {
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  int k = 0;
  if constexpr (R <= 2) {
    // Too few rows to hide the FMA latency: a second set of accumulators for odd k.
    __m512 odd0[R], odd1[R];
    for (int r = 0; r < R; ++r) odd0[r] = odd1[r] = _mm512_setzero_ps();
    for (; k + 2 <= K; k += 2) {
      const float* q = p + k * NR;
      const __m512 w0 = _mm512_load_ps(q), w1 = _mm512_load_ps(q + 16);
      const __m512 v0 = _mm512_load_ps(q + NR), v1 = _mm512_load_ps(q + NR + 16);
      for (int r = 0; r < R; ++r) {
        const __m512 hv = _mm512_set1_ps(PACKED ? a[k * MR + r] : a[(long)r * lda + k]);
        const __m512 hw = _mm512_set1_ps(PACKED ? a[(k + 1) * MR + r] : a[(long)r * lda + k + 1]);
        acc0[r] = _mm512_fmadd_ps(hv, w0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(hv, w1, acc1[r]);
        odd0[r] = _mm512_fmadd_ps(hw, v0, odd0[r]);
        odd1[r] = _mm512_fmadd_ps(hw, v1, odd1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      acc0[r] = _mm512_add_ps(acc0[r], odd0[r]);
      acc1[r] = _mm512_add_ps(acc1[r], odd1[r]);
    }
  }
  for (; k < K; ++k) {
    const __m512 w0 = _mm512_load_ps(p + k * NR), w1 = _mm512_load_ps(p + k * NR + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 hv = _mm512_set1_ps(PACKED ? a[k * MR + r] : a[(long)r * lda + k]);
      acc0[r] = _mm512_fmadd_ps(hv, w0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(hv, w1, acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* cr = c + (long)r * ldc;
    if (acc_in) {
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, cr));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, acc0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
  }
}
// Any tile height 1..MR: one instantiation per height.
template <bool PACKED, int R = MR>
inline void tile_rows(int rows, const float* a, int lda, const float* p, int K, float* c,
                      int ldc, __mmask16 m0, __mmask16 m1, bool acc_in) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R, PACKED>(a, lda, p, K, c, ldc, m0, m1, acc_in);
    tile_rows<PACKED, R - 1>(rows, a, lda, p, K, c, ldc, m0, m1, acc_in);
  }
}
inline __mmask16 lanes(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// In-register transpose of a 16 x 16 block: r[i] holds row i on entry, column i on exit.
inline void transpose16(__m512 r[16]) {
  const auto lo = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
  const auto hi = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
  __m512 t[16], s[16];
  for (int i = 0; i < 16; i += 2) {  // per 128-bit lane: [a0 b0 a1 b1], [a2 b2 a3 b3]
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int g = 0; g < 16; g += 4) {  // s[g + q], lane l: rows g..g+3 of column 4l + q
    s[g] = lo(t[g], t[g + 2]);
    s[g + 1] = hi(t[g], t[g + 2]);
    s[g + 2] = lo(t[g + 1], t[g + 3]);
    s[g + 3] = hi(t[g + 1], t[g + 3]);
  }
  for (int q = 0; q < 4; ++q) {  // a 4 x 4 transpose of 128-bit lanes across the groups
    const __m512 u0 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0x44);
    const __m512 u1 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0xEE);
    const __m512 u2 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0x44);
    const __m512 u3 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0xEE);
    r[q] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[4 + q] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    r[8 + q] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
}

// Packs rows [k0, k0 + kc) of op(W) (k, n) into panels (panel p at dst + p * kc * NR, zero
// padded past n). op(W) is W (k, n) with row stride ld, or (trans) W^T for W (n, k). The
// transposed case reads each W row contiguously: reading 32 rows 4 KB apart column by
// column (the first version) thrashed one L1 set: a fifth of a B = 1 GRU H = 1024 forward.
// Full panels go through 16 x 16 register transposes (the scalar copy took 41% of a T = 1,
// B = 1 LSTM H = 1024 forward in perf, 6x the step's GEMM), with the next lines of the 16
// rows prefetched; a copy larger than L2 is written with streaming stores, which skip reading
// the destination in first (T = 1, B = 1, LSTM H = 1024 inference, idle Zen 4: 7.6 -> 5.2 ms;
// at H = 256, where the panels fit in L2, they were slower: 0.185 vs 0.160 ms).
// ``panel_rows`` (default kc) is the height of a destination panel, for packing a block of
// rows into taller panels (the fused LSTM step's [W_ih, W_hh, b]).
inline void pack_w(const float* w, int ld, bool trans, int k0, int kc, int n, float* dst,
                   int panel_rows = 0) {
  const int np = (n + NR - 1) / NR;
  const size_t stride = size_t(panel_rows > 0 ? panel_rows : kc) * NR;
  const bool stream = np * stride * sizeof(float) >= (size_t(4) << 20);
  for (int p = 0; p < np; ++p) {
    float* out = dst + p * stride;
    const int cols = std::min(NR, n - p * NR);
    if (cols < NR) std::memset(out, 0, sizeof(float) * size_t(kc) * NR);
    if (trans && cols == NR) {
      int kk = 0;
      for (; kk + 16 <= kc; kk += 16) {
        for (int j0 = 0; j0 < NR; j0 += 16) {
          __m512 r[16];
          for (int i = 0; i < 16; ++i) {
            const float* src = w + (long)(p * NR + j0 + i) * ld + k0 + kk;
            _mm_prefetch(reinterpret_cast<const char*>(src + 64), _MM_HINT_T0);
            r[i] = _mm512_loadu_ps(src);
          }
          transpose16(r);
          if (stream) {
            for (int c = 0; c < 16; ++c) _mm512_stream_ps(out + (kk + c) * NR + j0, r[c]);
          } else {
            for (int c = 0; c < 16; ++c) _mm512_store_ps(out + (kk + c) * NR + j0, r[c]);
          }
        }
      }
      for (int j = 0; j < NR; ++j) {
        const float* src = w + (long)(p * NR + j) * ld + k0;
        for (int t = kk; t < kc; ++t) out[t * NR + j] = src[t];
      }
    } else if (trans) {
      for (int j = 0; j < cols; ++j) {
        const float* src = w + (long)(p * NR + j) * ld + k0;
        for (int kk = 0; kk < kc; ++kk) out[kk * NR + j] = src[kk];
      }
    } else {
      for (int kk = 0; kk < kc; ++kk)
        std::memcpy(out + kk * NR, w + (long)(k0 + kk) * ld + p * NR, sizeof(float) * cols);
    }
  }
  if (stream) _mm_sfence();  // streaming stores are weakly ordered: visible before any read
}
}  // namespace panel
#endif

inline bool env_set(const char* name) { return std::getenv(name) != nullptr; }

// Storage for packed weights, kept per thread between calls. A fresh multi-MB block per call
// came from mmap and went back to the system on free, so every call page-faulted its panels
// in again: page faults and page clearing were 17% of a T = 1, B = 16, LSTM H = 256 inference
// in perf. A thread keeps at most kKept blocks (one call uses at most three at a time).
class PackPool {
 public:
  static float* take(size_t floats, size_t& capacity) {
    auto& kept = list();
    auto best = kept.end();
    for (auto it = kept.begin(); it != kept.end(); ++it)
      if (it->first >= floats && (best == kept.end() || it->first < best->first)) best = it;
    if (best != kept.end()) {
      float* p = best->second;
      capacity = best->first;
      kept.erase(best);
      return p;
    }
    capacity = (floats + 15) / 16 * 16;  // whole 64-byte lines
    return static_cast<float*>(std::aligned_alloc(64, capacity * sizeof(float)));
  }
  static void give(float* p, size_t capacity) {
    auto& kept = list();
    kept.emplace_back(capacity, p);
    if (kept.size() > kKept) {  // drop the smallest: the large ones are the costly ones
      auto small = std::min_element(kept.begin(), kept.end());
      std::free(small->second);
      kept.erase(small);
    }
  }

 private:
  static constexpr size_t kKept = 4;
  struct Blocks : std::vector<std::pair<size_t, float*>> {
    ~Blocks() {
      for (auto& b : *this) std::free(b.second);
    }
  };
  static Blocks& list() {
    thread_local Blocks blocks;
    return blocks;
  }
};

// A block from the pool for the life of the object; uninitialised.
class PoolBlock {
 public:
  PoolBlock() = default;
  explicit PoolBlock(size_t floats) : p_(floats ? PackPool::take(floats, capacity_) : nullptr) {}
  PoolBlock(const PoolBlock&) = delete;
  PoolBlock& operator=(const PoolBlock&) = delete;
  PoolBlock& operator=(PoolBlock&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }
  ~PoolBlock() {
    if (p_) PackPool::give(p_, capacity_);
  }
  float* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  float* p_ = nullptr;
  size_t capacity_ = 0;
};

// The recurrent weights of one call packed once, so that a per-step GEMM does not re-pack
// the whole (G*H, Hr) matrix every step (a full pass over the weights). On AVX-512: the
// panels above; elsewhere MKL's packed format (cblas_sgemm_pack). Row-major throughout:
// c (B, n) = beta c + a (B, k) @ op(W), op(W) (k, n). float32 only.
struct PackedWeights {
  // Uninitialised on purpose: MKL asks for ~5.8 MB whatever the matrix (measured for a
  // 256 x 64 one), and zero-filling that per call cost ~0.5-1 ms (14% of an LSTM B=16, H=64
  // forward in perf). Untouched pages are never faulted in.
  PoolBlock buf;
  int n = 0, k = 0;
  bool panels = false;
  bool active() const { return bool(buf); }
  // RNNKIT_NATIVE_NO_PACK=1 turns packing off (per-step sgemm instead), for A/B timing.
  static bool enabled() { return !env_set("RNNKIT_NATIVE_NO_PACK"); }
  // RNNKIT_NATIVE_MKL_PACK=1: MKL's packed GEMM even where the panel kernel exists (A/B).
  static bool use_panels() {
#ifdef RNNKIT_PANEL_MM
    return !env_set("RNNKIT_NATIVE_MKL_PACK");
#else
    return false;
#endif
  }
  void alloc(size_t floats) { buf = PoolBlock(floats); }
  // Whether to pack a (rows x cols) matrix for a time loop of ``steps`` steps. Packing is two
  // passes over the weights; past L2 (1 MB) and at few steps, MKL's unpacked GEMM is quicker
  // (panel builds, idle Zen 4, one thread, H = 1024, B = 1-16: T = 1-4 took 0.26-0.88x of
  // the packed time in most cases, T >= 50 1.3-2.5x). AVX2 builds always pack, as measured
  // there. RNNKIT_NATIVE_PACK_MIN_STEPS overrides the 8 steps (A/B timing).
  static bool pays(int64_t steps, int64_t rows, int64_t cols) {
    if (!enabled()) return false;
    if (!use_panels() || rows * cols * int64_t(sizeof(float)) <= (int64_t(1) << 20)) return true;
    const char* env = std::getenv("RNNKIT_NATIVE_PACK_MIN_STEPS");
    return steps >= (env ? std::atoll(env) : 8);
  }
  // W is (rows, cols) row-major; trans=true packs W^T (cols x rows is op(W) = W^T).
  void pack(const float* w, int rows, int cols, bool trans, int B) {
    n = trans ? rows : cols;
    k = trans ? cols : rows;
#ifdef RNNKIT_PANEL_MM
    if (use_panels()) {
      const int np = (n + panel::NR - 1) / panel::NR;
      alloc(size_t(np) * k * panel::NR);
      panels = true;
      panel::pack_w(w, cols, trans, 0, k, n, buf.get());
      return;
    }
#endif
    alloc(cblas_sgemm_pack_get_size(162, B, n, k) / sizeof(float) + 1);
    cblas_sgemm_pack(101, 162, trans ? 112 : 111, B, n, k, 1.0f, w, cols, buf.get());
  }
#ifdef RNNKIT_PANEL_MM
  // op(W) = [W1 | W2 | b]^T for W1 (rows, k1) and W2 (rows, k2) row-major and a bias (rows,
  // or null for none): the fused LSTM step's weights, packed from the parameters themselves
  // (a concatenated copy was one more large allocation and pass per call).
  void pack_cat(const float* w1, int k1, const float* w2, int k2, const float* bias, int rows) {
    n = rows;
    k = k1 + k2 + 1;
    panels = true;
    const int np = (n + panel::NR - 1) / panel::NR;
    alloc(size_t(np) * k * panel::NR);
    float* d = buf.get();
    panel::pack_w(w1, k1, true, 0, k1, n, d, k);
    panel::pack_w(w2, k2, true, 0, k2, n, d + size_t(k1) * panel::NR, k);
    for (int p = 0; p < np; ++p) {
      float* last = d + (size_t(p) * k + k - 1) * panel::NR;
      for (int j = 0; j < panel::NR; ++j) {
        const int r = p * panel::NR + j;
        last[j] = r < n && bias ? bias[r] : 0.f;
      }
    }
  }
#endif
  // beta is 0 or 1 at every call site (overwrite or accumulate).
  void mm(const float* a, float* c, int B, float beta) const {
#ifdef RNNKIT_PANEL_MM
    if (panels) return panel_mm(a, c, B, beta != 0.f);
#endif
    cblas_sgemm_compute(101, 111, 151, B, n, k, a, k, buf.get(), n, beta, c, n);
  }
#ifdef RNNKIT_PANEL_MM
  // Each panel streams once per step and is reused by every row tile; split across threads
  // by panels from panel_threaded_macs() multiply-adds (below).
  void panel_mm(const float* a, float* c, int B, bool acc_in) const;
#endif
};

// Whether this call's float32 matmuls run on the panel kernel (an AVX-512 build with neither
// A/B switch set).
inline bool panels_on() { return PackedWeights::enabled() && PackedWeights::use_panels(); }

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
// AVX2 builds: where the micro-kernel beats MKL's packed GEMM (micro_small_gemm.cpp, AMD
// EPYC Zen 3, one thread): batch 1-2 with weights within ~1 MB (L2-sized); and, with its 6-row x
// 16-column tile (12 accumulators), batch 3-8 when the recurrent matrix is at most 64 wide
// and 2^14 elements. Per GEMM it took 0.68-0.82x MKL's time at H = 64, B = 4-16 (and lost
// at H = 128); per training step / inference, two A/B runs of benchmarks/env_ab.py gave
// 0.78-1.11x at B = 4-8 (mostly faster) but 0.93-1.17x at B = 16 (no gain), hence 8. Past ~1 MB both stream W from memory and the kernel's column-tiled
// walk over W^T loses to MKL's contiguous one (0.74-0.89x of torch.nn at H = 1024).
// RNNKIT_NATIVE_SMALL_MM_MAX_B caps the batch for the second rule (A/B timing; default 8).
template <typename T>
inline bool use_small_mm(int64_t B, int64_t rows, int64_t cols) {
#ifdef RNNKIT_SMALL_MM
  if (!std::is_same_v<T, float>) return false;
  // The AVX-512 panel kernel replaces this one: at batch 1-8 (H = 64, 256; Zen 4) it took
  // 0.64-0.99x of its inference time and 0.85-1.03x of its training time.
  if (panels_on()) return false;
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

#ifdef RNNKIT_PANEL_MM
namespace panel {
constexpr int KC = 512;  // rows of op(W) per pass: a 64 KB panel slice stays in L2
constexpr int MC_TILES = 8;

// Rows are split into tiles of at most MR, as even as possible (16 rows: 8 + 8, not 12 + 4).
struct Tiles {
  int count, base, extra;
  explicit Tiles(int M) : count((M + MR - 1) / MR), base(M / count), extra(M % count) {}
  int row0(int t) const { return t * base + std::min(t, extra); }
};

// Whether A must be copied for the kernel (see ``tile``): a row stride of 4 KB multiples.
inline bool needs_packing(int lda) { return lda % 1024 == 0; }

// Copies columns [k0, k0 + kc) of A (M rows, row stride lda) for the tiles: tile t at
// dst + t * kc * MR, k-major.
inline void pack_a(const Tiles& tl, const float* a, int lda, int k0, int kc, float* dst) {
  for (int t = 0; t < tl.count; ++t, dst += size_t(kc) * MR) {
    const int r0 = tl.row0(t), rows = tl.row0(t + 1) - r0;
    for (int r = 0; r < rows; ++r) {
      const float* src = a + (long)(r0 + r) * lda + k0;
      for (int kk = 0; kk < kc; ++kk) dst[kk * MR + r] = src[kk];
    }
  }
}

// c (M, n) [+]= one k-block of A times packed panels (panel p at wp + p * w_stride,
// kc x NR each). A is the packed copy ``ap`` (tiles x kc x MR) when given, else read in
// place from a (M rows, stride lda, starting at the block's column). Split across threads
// by panels when large.
inline void run_block(const Tiles& tl, int n, int kc, const float* ap, const float* a, int lda,
                      const float* wp, size_t w_stride, float* c, int ldc, bool acc,
                      bool threaded) {
  const int np = (n + NR - 1) / NR;
  int t0 = 0, t1 = 0;
  auto run = [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int cols = std::min(NR, n - int(p) * NR);
      const __mmask16 m0 = lanes(cols), m1 = lanes(cols > 16 ? cols - 16 : 0);
      const float* w = wp + p * w_stride;
      for (int t = t0; t < t1; ++t) {
        const int r0 = tl.row0(t), rows = tl.row0(t + 1) - r0;
        float* ct = c + (long)r0 * ldc + p * NR;
        if (ap) {
          tile_rows<true>(rows, ap + size_t(t) * kc * MR, MR, w, kc, ct, ldc, m0, m1, acc);
        } else {
          tile_rows<false>(rows, a + (long)r0 * lda, lda, w, kc, ct, ldc, m0, m1, acc);
        }
      }
    }
  };
  const bool split = threaded && np >= 2 && at::get_num_threads() > 1 && !at::in_parallel_region();
  // MC_TILES tiles of A at a time (~100 rows x kc: L2-sized), every panel against them, so
  // that a tall A (the input projection's T * B rows) is not re-read per panel.
  for (t0 = 0; t0 < tl.count; t0 = t1) {
    t1 = std::min(tl.count, t0 + MC_TILES);
    if (split) {
      at::parallel_for(0, np, 1, run);
    } else {
      run(0, np);
    }
  }
}
}  // namespace panel

// Per-step panel GEMMs from this many multiply-adds up split their panels across threads:
// 2^17, not MKL's 2^20. Two threads, B = 1-4 at H = 256 (between the two bars): 0.74-0.86x
// of the time at 2^20 in 14 of 16 A/B pairs (benchmarks/env_ab.py, idle Zen 4). The
// variable overrides it (A/B timing).
inline int64_t panel_threaded_macs() {
  const char* env = std::getenv("RNNKIT_NATIVE_PANEL_THREADED_MACS");
  return env ? std::atoll(env) : int64_t(1) << 17;
}

inline void PackedWeights::panel_mm(const float* a, float* c, int B, bool acc_in) const {
  if (B == 0) return;
  const panel::Tiles tl(B);
  const float* ap = nullptr;
  if (panel::needs_packing(k)) {
    thread_local std::vector<float> a_packed;  // one step's input: B x k floats, reused
    a_packed.resize(size_t(tl.count) * k * panel::MR);
    panel::pack_a(tl, a, k, 0, k, a_packed.data());
    ap = a_packed.data();
  }
  // k <= 4H here: one block, and each panel's stride is k rows.
  panel::run_block(tl, n, k, ap, a, k, buf.get(), size_t(k) * panel::NR, c, n, acc_in,
                   int64_t(B) * n * k >= panel_threaded_macs());
}
#endif

// at::mm(a, b), or at::addmm(bias, a, b), for the batched matmuls before and after the time
// loops (input projection, dx, weight gradients): float32 goes through the panel kernel
// where it exists (the per-step GEMM's reasons hold here too), everything else to ATen.
// a and b may be transposed views of contiguous tensors, as at::mm allows (a transposed a
// goes to ATen).
inline Tensor batched_mm(const Tensor& a, const Tensor& b, const Tensor& bias = Tensor()) {
#ifdef RNNKIT_PANEL_MM
  // Measured against MKL (one thread, Zen 4): 1.0-1.4x for the input projection and dx at
  // >= 256 rows and a >= 128-long sum; below that packing costs more than the kernel gains
  // (0.6x at T * B = 50 rows), and the weight gradients (transposed A) gained nothing.
  if (a.scalar_type() == at::kFloat && panels_on() && a.is_contiguous() && a.size(0) >= 256 &&
      a.size(1) >= 128 && b.numel() > 0) {
    const int M = a.size(0), n = b.size(1), k = a.size(1), lda = a.stride(0);
    Tensor bc = b.is_contiguous() || b.t().is_contiguous() ? b : b.contiguous();
    const bool tb = !bc.is_contiguous();
    Tensor out = bias.defined() ? bias.expand({M, n}).contiguous() : at::empty({M, n}, a.options());
    // Packed one k-block at a time, so the scratch stays (M + n) x KC floats however long
    // the sum.
    const float* A = a.data_ptr<float>();
    const float* Bm = bc.data_ptr<float>();  // op(W) = bc: (k, n), or bc^T stored (n, k)
    const panel::Tiles tl(M);
    const int np = (n + panel::NR - 1) / panel::NR;
    const bool pack_a = panel::needs_packing(lda);
    std::vector<float> ap(pack_a ? size_t(tl.count) * panel::KC * panel::MR : 0);
    const PoolBlock wp(size_t(np) * panel::KC * panel::NR);
    float* wpa = wp.get();
    const bool threaded = int64_t(M) * n * k >= kBatchedThreadedMacs;
    for (int k0 = 0; k0 < k; k0 += panel::KC) {
      const int kc = std::min(panel::KC, k - k0);
      if (pack_a) panel::pack_a(tl, A, lda, k0, kc, ap.data());
      panel::pack_w(Bm, tb ? k : n, tb, k0, kc, n, wpa);
      panel::run_block(tl, n, kc, pack_a ? ap.data() : nullptr, A + k0, lda, wpa,
                       size_t(kc) * panel::NR, out.data_ptr<float>(), n,
                       bias.defined() || k0 > 0, threaded);
    }
    return out;
  }
#endif
  return bias.defined() ? at::addmm(bias, a, b) : at::mm(a, b);
}


// Runs f(r0, r1), a whole time loop for batch rows [r0, r1): split into one chunk per
// thread when there are several threads and >= 8 rows (at least 4 per chunk), else once.
// Panel builds only: MKL's packed weights are packed for one row count. RNNKIT_NATIVE_NO_
// BATCH_SPLIT=1 keeps one chunk (A/B timing).
template <typename F>
inline void batch_chunks(int64_t B, const F& f) {
  if (B >= 8 && at::get_num_threads() > 1 && !at::in_parallel_region() && panels_on() &&
      !env_set("RNNKIT_NATIVE_NO_BATCH_SPLIT")) {
    at::parallel_for(0, B, 4, f);
  } else {
    f(0, B);
  }
}

template <typename T>
inline T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

inline Tensor opt(const c10::optional<Tensor>& t) { return t.has_value() ? *t : Tensor(); }

}  // namespace
