// The AVX-512 panel GEMM (float32): the register tile, the in-register 16 x 16 transpose,
// packing op(W) into 32-column panels and A into row tiles, and one k-block of C += A op(W)
// split across threads by panels. PackedWeights (packing.h) and batched_mm (gemm.h) drive
// it. Defines RNNKIT_PANEL_MM where the processor has AVX-512; elsewhere it is empty.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

#if defined(__AVX512F__)
#define RNNKIT_PANEL_MM 1
// Our own packed GEMM for the per-step and batched float32 matmuls on AVX-512 processors.
// On AMD processors MKL runs its generic kernels (`mkl_blas_def_sgemm_kernel_0_zen` in perf
// on an AMD EPYC Zen 4) while oneDNN's JIT kernels use AVX-512 there; this tile measured
// 97-110 GFLOP/s on our shapes against MKL's 68-76 (one thread). op(W) (k, n) is packed once
// per call into panels of 32 columns, row k of panel p at buf[(p * k_total + k) * 32], zero
// padded past n; a tile keeps MR rows x 32 columns of C in 2 * MR zmm registers (tile_wide:
// 4-6 rows x two adjacent panels) while the panel streams through once, and the panel stays
// in L1/L2 across the row tiles.
namespace panel {
constexpr int NR = 32;
constexpr int MR = 12;  // 24 accumulators + 2 weight vectors + 1 broadcast of 32 registers

// A vector GCC must hold in a register: at 1-4 rows it folded each weight load into every
// row's FMA (a memory operand), loading each weight vector R times; on Zen 4 that made
// the step's GEMM load-bound (LSTM B = 4, H = 256: 0.75x oneDNN's step).
inline __m512 in_register(__m512 v) {
  asm("" : "+v"(v));
  return v;
}

// A is read in place (row r, column kk at a[r * lda + kk]) or, PACKED, from a copy made MR
// rows at a time, k-major (ap[kk * MR + r]). The copy is needed for row strides that are a
// multiple of 4 KB: MR rows 4 KB apart all fall into one L1 set (seen in the LSTM
// backward, lda = 4H = 1024, slower than MKL until packed).
// With ``bias`` (the tile's 32 columns, read under the masks) the sums start from it: a
// bias added in the GEMM, where a (rows, n) copy of it to accumulate onto was one more pass
// over C (1.5% of an LSTM B = 4, H = 257 inference in perf).
template <int R, bool PACKED>
inline void tile(const float* a, int lda, const float* p, int K, float* c, int ldc,
                 __mmask16 m0, __mmask16 m1, bool acc_in, const float* bias) {
  __m512 acc0[R], acc1[R];
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < R; ++r) acc0[r] = b0, acc1[r] = b1;
  int k = 0;
  if constexpr (R <= 4) {
    // Too few rows to hide the FMA latency: a second set of accumulators for odd k.
    __m512 odd0[R], odd1[R];
    for (int r = 0; r < R; ++r) odd0[r] = odd1[r] = _mm512_setzero_ps();
    for (; k + 2 <= K; k += 2) {
      const float* q = p + k * NR;
      const __m512 w0 = in_register(_mm512_load_ps(q)), w1 = in_register(_mm512_load_ps(q + 16));
      const __m512 v0 = in_register(_mm512_load_ps(q + NR));
      const __m512 v1 = in_register(_mm512_load_ps(q + NR + 16));
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
    const __m512 w0 = in_register(_mm512_load_ps(p + k * NR));
    const __m512 w1 = in_register(_mm512_load_ps(p + k * NR + 16));
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
// R rows x two adjacent panels (64 columns; the second at p + ps, its columns under the
// masks): 4 weight vectors and R broadcasts per k for 4R FMAs, where the 32-column tile
// loads one broadcast per 2 FMAs. Six rows fill the registers (24 accumulators). A is read
// in place. Measured on the idle Zen 4, one thread, against the 12 x 32 tile on the same
// panels: 1-4% more GFLOP/s at M = 361-2527, N = 940-1028, K = 235-706 (97-111 GFLOP/s).
template <int R>
inline void tile_wide(const float* a, int lda, const float* p, size_t ps, int K, float* c,
                      int ldc, __mmask16 m2, __mmask16 m3, bool acc_in, const float* bias,
                      size_t bias_stride) {
  __m512 acc[R][4];
  __m512 b[4];
  for (int j = 0; j < 4; ++j) b[j] = _mm512_setzero_ps();
  if (bias) {
    b[0] = _mm512_loadu_ps(bias), b[1] = _mm512_loadu_ps(bias + 16);
    b[2] = _mm512_maskz_loadu_ps(m2, bias + bias_stride);
    b[3] = _mm512_maskz_loadu_ps(m3, bias + bias_stride + 16);
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = b[j];
  const float* q = p + ps;
  for (int k = 0; k < K; ++k) {
    const __m512 w0 = in_register(_mm512_load_ps(p + k * NR));
    const __m512 w1 = in_register(_mm512_load_ps(p + k * NR + 16));
    const __m512 w2 = in_register(_mm512_load_ps(q + k * NR));
    const __m512 w3 = in_register(_mm512_load_ps(q + k * NR + 16));
    for (int r = 0; r < R; ++r) {
      const __m512 hv = _mm512_set1_ps(a[(long)r * lda + k]);
      acc[r][0] = _mm512_fmadd_ps(hv, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(hv, w1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(hv, w2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(hv, w3, acc[r][3]);
    }
  }
  const __mmask16 full = 0xFFFF, m[4] = {full, full, m2, m3};
  for (int r = 0; r < R; ++r) {
    float* cr = c + (long)r * ldc;
    for (int j = 0; j < 4; ++j) {
      if (acc_in) acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_maskz_loadu_ps(m[j], cr + 16 * j));
      _mm512_mask_storeu_ps(cr + 16 * j, m[j], acc[r][j]);
    }
  }
}
// A 12-row tile's rows (8-12 of them) as two wide tiles of 4-6 rows.
inline void tile_wide_halves(int rows, const float* a, int lda, const float* p, size_t ps,
                             int K, float* c, int ldc, __mmask16 m2, __mmask16 m3, bool acc_in,
                             const float* bias, size_t bias_stride) {
  const auto half = [&](int h, const float* ah, float* ch) {
    if (h == 6) return tile_wide<6>(ah, lda, p, ps, K, ch, ldc, m2, m3, acc_in, bias, bias_stride);
    if (h == 5) return tile_wide<5>(ah, lda, p, ps, K, ch, ldc, m2, m3, acc_in, bias, bias_stride);
    tile_wide<4>(ah, lda, p, ps, K, ch, ldc, m2, m3, acc_in, bias, bias_stride);
  };
  const int h = (rows + 1) / 2;
  half(h, a, c);
  half(rows - h, a + (long)h * lda, c + (long)h * ldc);
}
// Any tile height 1..MR: one instantiation per height.
template <bool PACKED, int R = MR>
inline void tile_rows(int rows, const float* a, int lda, const float* p, int K, float* c,
                      int ldc, __mmask16 m0, __mmask16 m1, bool acc_in, const float* bias) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R, PACKED>(a, lda, p, K, c, ldc, m0, m1, acc_in, bias);
    tile_rows<PACKED, R - 1>(rows, a, lda, p, K, c, ldc, m0, m1, acc_in, bias);
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

// pack_w's panels [p0, p1) (one thread's share); ``stride`` floats apart, streaming
// stores with ``stream``.
inline void pack_panels(const float* w, int ld, bool trans, int k0, int kc, int n, float* dst,
                        size_t stride, bool stream, int p0, int p1) {
  for (int p = p0; p < p1; ++p) {
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

constexpr size_t kPackThreadedFloats = size_t(1) << 16;  // 256 KB of panels

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
  // Panels are independent: with several threads each packs its share, as the GEMM that
  // follows runs on all of them (single-threaded, packing was 4.6% of an LSTM B = 5,
  // H = 249, T = 67 inference on two threads in perf).
  const bool split = size_t(np) * kc * NR >= kPackThreadedFloats && np >= 2 &&
                     at::get_num_threads() > 1 && !at::in_parallel_region();
  if (split) {
    at::parallel_for(0, np, 1, [&](int64_t p0, int64_t p1) {
      pack_panels(w, ld, trans, k0, kc, n, dst, stride, stream, int(p0), int(p1));
    });
  } else {
    pack_panels(w, ld, trans, k0, kc, n, dst, stride, stream, 0, np);
  }
}

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
// kc x NR each) [+ bias]. A is the packed copy ``ap`` (tiles x kc x MR) when given, else
// read in place from a (M rows, stride lda, starting at the block's column). Panel p's bias
// is the 32 floats at bias + p * bias_stride: a vector (stride NR, read under the column
// masks) or a row packed in the panels (step_pack's [W_ih, b]^T, stride w_stride). Split
// across threads by panels when large.
inline void run_block(const Tiles& tl, int n, int kc, const float* ap, const float* a, int lda,
                      const float* wp, size_t w_stride, float* c, int ldc, bool acc,
                      bool threaded, const float* bias = nullptr, size_t bias_stride = NR) {
  const int np = (n + NR - 1) / NR;
  int t0 = 0, t1 = 0;
  // Panels [p0, p1) two at a time (tile_wide), the last alone when they are odd.
  auto run = [&](int64_t p0, int64_t p1) {
    for (int p = int(p0), pair = 0; p < p1; p += pair) {
      pair = std::min<int>(2, p1 - p);
      __mmask16 m0[2], m1[2];  // each panel's columns
      const float* w[2];
      const float* bp[2] = {nullptr, nullptr};
      for (int j = 0; j < pair; ++j) {
        const int cols = std::min(NR, n - (p + j) * NR);
        m0[j] = lanes(cols), m1[j] = lanes(cols > 16 ? cols - 16 : 0);
        w[j] = wp + (p + j) * w_stride;
        if (bias) bp[j] = bias + (p + j) * bias_stride;
      }
      for (int t = t0; t < t1; ++t) {
        const int r0 = tl.row0(t), rows = tl.row0(t + 1) - r0;
        float* ct = c + (long)r0 * ldc + p * NR;
        if (!ap && pair == 2 && rows >= 8) {  // two panels at once (tile_wide)
          tile_wide_halves(rows, a + (long)r0 * lda, lda, w[0], w_stride, kc, ct, ldc, m0[1],
                           m1[1], acc, bp[0], bias_stride);
          continue;
        }
        for (int j = 0; j < pair; ++j) {
          if (ap) {
            tile_rows<true>(rows, ap + size_t(t) * kc * MR, MR, w[j], kc, ct + j * NR, ldc,
                            m0[j], m1[j], acc, bp[j]);
          } else {
            tile_rows<false>(rows, a + (long)r0 * lda, lda, w[j], kc, ct + j * NR, ldc, m0[j],
                             m1[j], acc, bp[j]);
          }
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
#endif

}  // namespace
