// Reduced-precision weights for inference: int8 (per-row scales, activations quantised per
// row on the fly; our AVX-512 VNNI tile) and bfloat16 (MKL's bf16 GEMM). One matmul serves
// both: c (M, N) = beta c + x (M, K) @ W^T with x float32 and W stored low-precision, so a
// step streams 1/4 (int8) or 1/2 (bf16) of the float32 weight bytes: what bounds a
// recurrent step at small batch.
//
// int8 weights are packed once, when a layer is quantised (lowp_pack): panels of 16 output
// rows; within a panel K in groups of 4, each group 16 rows x 4 bytes = 64 bytes, the
// operand of one vpdpbusd. N is padded to a multiple of 32 (two panels per tile) and K to a
// multiple of 4 with zeros, so padding adds nothing. bf16 weights stay (N, K) row-major.
//
// int8 arithmetic: x_row is scaled by s_x = max|x_row| / 127 and rounded to q_x in
// [-127, 127]; vpdpbusd multiplies unsigned by signed bytes, so it sees q_x + 128 and the
// kernel subtracts 128 * sum_k W_q[n, k] (rowsum) afterwards. The int32 sums cannot
// overflow below K = 2^31 / (255 * 127), about 66,000.
//
// Processors without AVX512_VNNI run a scalar int8 loop with the same rounding: the same
// results, slowly (a quantised layer's explain() says so).
#pragma once

#include "blas.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {
namespace lowp {

enum Kind { NONE = 0, INT8 = 1, BF16 = 2 };
constexpr int PANEL = 16;  // output rows per panel (one zmm of float32 results)
constexpr int NB = 2;      // panels per tile
constexpr int MR = 8;      // x rows per tile: MR * NB = 16 independent accumulation chains

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// bfloat16 as bits, rounded to nearest even (NaN is kept a NaN).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Pack int8 W (N, K) into the panel layout above (bf16 weights need no packing).
inline std::vector<uint8_t> pack(const int8_t* w, int64_t N, int64_t K) {
  const int64_t Np = round_up(N, PANEL * NB), Kp = round_up(K, 4);
  std::vector<uint8_t> out(size_t(Np * Kp), 0);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t p = n / PANEL, r = n % PANEL;
    for (int64_t k = 0; k < K; ++k)
      out[size_t(((p * (Kp / 4) + k / 4) * PANEL + r) * 4 + k % 4)] = uint8_t(w[n * K + k]);
  }
  return out;
}

// One row of x as the int8 kernel reads it: q_x + 128 as bytes, padded with zero (128) to
// Kp; returns the row's scale s_x.
inline float quantise_row(const float* x, int64_t K, int64_t Kp, uint8_t* out) {
#if defined(__AVX512F__)
  // Vectorised: at small hidden sizes this runs once per row per step, beside the tile.
  __m512 vm = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (K - k)) - 1);
    vm = _mm512_max_ps(vm, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + k)));
  }
  const float mx = _mm512_reduce_max_ps(vm);
  const float sv = mx > 0.f ? mx / 127.f : 1.f;
  const __m512 vinv = _mm512_set1_ps(1.f / sv);
  const __m512i v128 = _mm512_set1_epi32(128);
  for (int64_t k = 0; k < Kp; k += 16) {
    const int64_t left = std::min<int64_t>(16, K - k);
    const __mmask16 m = left >= 16 ? __mmask16(0xffff)
                                   : (left > 0 ? __mmask16((1u << left) - 1) : __mmask16(0));
    const __mmask16 mo = Kp - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (Kp - k)) - 1);
    // cvtps rounds to nearest even, as nearbyint does in the default mode; zeros -> 128.
    const __m512i q = _mm512_add_epi32(
        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vinv)), v128);
    _mm512_mask_cvtepi32_storeu_epi8(out + k, mo, q);
  }
  return sv;
#else
  float m = 0.f;
  for (int64_t k = 0; k < K; ++k) m = std::max(m, std::fabs(x[k]));
  const float s = m > 0.f ? m / 127.f : 1.f;
  const float inv = 1.f / s;
  for (int64_t k = 0; k < K; ++k) out[k] = uint8_t(int(std::nearbyint(x[k] * inv)) + 128);
  for (int64_t k = K; k < Kp; ++k) out[k] = 128;  // zero; the padded weights are zero too
  return s;
#endif
}

// What a matmul needs besides x: the packed weights and, for int8, the per-row scale and
// rowsum (N each).
struct Weights {
  Kind kind = NONE;
  int64_t N = 0, K = 0;
  const uint8_t* packed = nullptr;
  const float* scale = nullptr;
  const int32_t* rowsum = nullptr;
  bool active() const { return kind != NONE; }
  int64_t Kp() const { return round_up(K, 4); }  // int8: K padded to whole groups
};

// c[n0 .. n0 + 16) = beta c + v, for the columns that exist (< N).
inline void store(const Weights& w, int64_t n0, float* c, float beta, const float* v) {
  const int64_t n1 = std::min<int64_t>(n0 + PANEL, w.N);
  for (int64_t n = n0; n < n1; ++n) {
    const float r = v[n - n0];
    c[n] = beta == 0.f ? r : beta * c[n] + r;
  }
}

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
#define RNNKIT_LOWP_SIMD 1
// MR_ rows of x (int8 kernel form, row stride Kp bytes) against NB panels from p0.
template <int MR_>
inline void tile(const Weights& w, const uint8_t* xq, const float* sx, int64_t p0, float* c,
                 int64_t ldc, float beta) {
  const int64_t Kp = w.Kp(), groups = Kp / 4;
  __m512i acc[MR_][NB];
  for (int r = 0; r < MR_; ++r)
    for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_setzero_si512();
  const uint8_t* wp[NB];
  for (int j = 0; j < NB; ++j) wp[j] = w.packed + size_t((p0 + j) * groups * 64);
  for (int64_t q = 0; q < groups; ++q) {
    __m512i wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_si512(wp[j] + q * 64);
    for (int r = 0; r < MR_; ++r) {
      int32_t bits;
      std::memcpy(&bits, xq + r * Kp + q * 4, 4);
      const __m512i xb = _mm512_set1_epi32(bits);
      for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], xb, wv[j]);
    }
  }
  for (int j = 0; j < NB; ++j) {
    const int64_t n0 = (p0 + j) * PANEL;
    if (n0 >= w.N) break;
    const int64_t nl = std::min<int64_t>(PANEL, w.N - n0);
    const __mmask16 m = nl == PANEL ? __mmask16(0xffff) : __mmask16((1u << nl) - 1);
    const __m512i rs = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, w.rowsum + n0), 7);
    const __m512 sw = _mm512_maskz_loadu_ps(m, w.scale + n0);
    for (int r = 0; r < MR_; ++r) {
      const __m512i exact = _mm512_sub_epi32(acc[r][j], rs);  // remove the +128 of x
      __m512 res = _mm512_mul_ps(_mm512_cvtepi32_ps(exact),
                                 _mm512_mul_ps(sw, _mm512_set1_ps(sx[r])));
      float* cr = c + r * ldc + n0;
      if (beta != 0.f)
        res = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, cr), res);
      _mm512_mask_storeu_ps(cr, m, res);
    }
  }
}
#endif

// The scalar int8 path (no AVX512_VNNI): same packed data, same rounding, same result.
inline void rows_scalar(const Weights& w, const uint8_t* xq, const float* sx, int64_t M,
                        float* c, int64_t ldc, float beta) {
  const int64_t Kp = w.Kp();
  float v[PANEL];
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t p = 0; p * PANEL < w.N; ++p) {
      for (int lane = 0; lane < PANEL; ++lane) {
        const int64_t n = p * PANEL + lane;
        int64_t acc = 0;
        for (int64_t k = 0; k < Kp; ++k)
          acc += int64_t(xq[r * Kp + k]) * int8_t(w.packed[((p * (Kp / 4) + k / 4) * PANEL + lane) * 4 + k % 4]);
        v[lane] = n < w.N ? float(acc - 128 * int64_t(w.rowsum[n])) * (w.scale[n] * sx[r]) : 0.f;
      }
      store(w, p * PANEL, c + r * ldc, beta, v);
    }
  }
}

// Whether this build has the SIMD int8 kernel (else the scalar loop runs; bf16 is MKL's).
inline bool simd() {
#if defined(RNNKIT_LOWP_SIMD)
  return true;
#else
  return false;
#endif
}

// c (M, N) = beta c + x (M, K) @ W^T for rows [0, M) of x (row stride K), c row stride ldc.
// bfloat16 goes to MKL's bf16 GEMM (it measured 2x our own AVX512_BF16 tile at batch 16 and
// uses AMX where present: 4x float32 at 1024 rows); int8 runs the tile above, with the rows
// split across threads when asked and large (the batched input projection).
inline void mm(const Weights& w, const float* x, int64_t M, float* c, int64_t ldc, float beta,
               bool threaded = false) {
  const int64_t Kp = w.Kp();
  thread_local std::vector<uint16_t> xb;
  if (w.kind == BF16) {
    xb.resize(size_t(M * w.K));
    for (int64_t k = 0; k < M * w.K; ++k) xb[k] = to_bf16(x[k]);
    cblas_gemm_bf16bf16f32(101, 111, 112, int(M), int(w.N), int(w.K), 1.f, xb.data(), int(w.K),
                           reinterpret_cast<const uint16_t*>(w.packed), int(w.K), beta, c,
                           int(ldc));
    return;
  }
  auto run = [&](int64_t r0, int64_t r1) {
    thread_local std::vector<uint8_t> xq;
    thread_local std::vector<float> sx;
    const int64_t rows = r1 - r0;
    xq.resize(size_t(rows * Kp));
    sx.resize(size_t(rows));
    for (int64_t r = 0; r < rows; ++r)
      sx[r] = quantise_row(x + (r0 + r) * w.K, w.K, Kp, xq.data() + r * Kp);
    float* cr = c + r0 * ldc;
    if (!simd()) return rows_scalar(w, xq.data(), sx.data(), rows, cr, ldc, beta);
#if defined(RNNKIT_LOWP_SIMD)
    const int64_t panels = round_up(w.N, PANEL * NB) / PANEL;
    // Row blocks of 48 so a tile's panels (Kp * 32 bytes) stay in L1/L2 across its rows.
    for (int64_t b0 = 0; b0 < rows; b0 += 48) {
      const int64_t b1 = std::min<int64_t>(rows, b0 + 48);
      for (int64_t p = 0; p < panels; p += NB) {
        int64_t r = b0;
        auto at = [&](int64_t rr) { return xq.data() + rr * Kp; };
        for (; r + 8 <= b1; r += 8) tile<8>(w, at(r), &sx[r], p, cr + r * ldc, ldc, beta);
        for (; r + 4 <= b1; r += 4) tile<4>(w, at(r), &sx[r], p, cr + r * ldc, ldc, beta);
        for (; r + 2 <= b1; r += 2) tile<2>(w, at(r), &sx[r], p, cr + r * ldc, ldc, beta);
        for (; r < b1; ++r) tile<1>(w, at(r), &sx[r], p, cr + r * ldc, ldc, beta);
      }
    }
#endif
  };
  if (threaded && M >= 16 && at::get_num_threads() > 1 && !at::in_parallel_region()) {
    at::parallel_for(0, M, 48, run);
  } else {
    run(0, M);
  }
}

}  // namespace lowp
}  // namespace
