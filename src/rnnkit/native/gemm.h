// Every float32/float64 matmul of the time loops, and which kernel runs it: rec_mm and
// rec_mm_grad for the per-step matmuls (packed weights, the AVX2 micro-kernel or plain
// BLAS), use_small_mm for when the micro-kernel wins, batched_mm for the matmuls before
// and after the loops (the AVX-512 panel kernel or ATen).
#pragma once

#include "blas.h"
#include "packing.h"
#include "panel_gemm.h"
#include "settings.h"
#include "small_mm.h"
#include "tensors.h"
#include "threading.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace {

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
// AVX2 builds: where the micro-kernel beats MKL's packed GEMM (benchmarks/probes/
// micro_small_gemm.cpp, AMD EPYC Zen 3, one thread): batch 1-2 with weights within ~1 MB
// (L2-sized); and, with its 6-row x 16-column tile (12 accumulators), batch 3-8 when the
// recurrent matrix is at most 64 wide and 2^14 elements. Per GEMM it took 0.68-0.82x MKL's
// time at H = 64, B = 4-16 (and lost at H = 128); per training step / inference, two A/B
// runs of benchmarks/probes/env_ab.py gave 0.78-1.11x at B = 4-8 (mostly faster) but
// 0.93-1.17x at B = 16 (no gain), hence 8. Past ~1 MB both stream W from memory and the
// kernel's column-tiled walk over W^T loses to MKL's contiguous one (0.74-0.89x of torch.nn
// at H = 1024). RNNKIT_NATIVE_SMALL_MM_MAX_B caps the batch for the second rule (A/B
// timing; default 8).
template <typename T>
inline bool use_small_mm(int64_t B, int64_t rows, int64_t cols) {
#ifdef RNNKIT_SMALL_MM
  if (!std::is_same_v<T, float>) return false;
  // The AVX-512 panel kernel replaces this one: at batch 1-8 (H = 64, 256; Zen 4) it took
  // 0.64-0.99x of its inference time and 0.85-1.03x of its training time.
  if (panels_on()) return false;
  if (B <= 2) return rows * cols <= (int64_t(1) << 18);
  return B <= settings().small_mm_max_b && cols <= 64 && rows * cols <= (int64_t(1) << 14);
#else
  return false;
#endif
}

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
      a.size(1) >= 128 && b.numel() > 0 &&
      (!bias.defined() || bias.numel() == b.size(1))) {
    const int M = a.size(0), n = b.size(1), k = a.size(1), lda = a.stride(0);
    Tensor bc = b.is_contiguous() || b.t().is_contiguous() ? b : b.contiguous();
    const bool tb = !bc.is_contiguous();
    Tensor out = at::empty({M, n}, a.options());
    Tensor bv = bias.defined() ? bias.reshape({n}).contiguous() : Tensor();
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
                       size_t(kc) * panel::NR, out.data_ptr<float>(), n, k0 > 0, threaded,
                       bv.defined() && k0 == 0 ? bv.data_ptr<float>() : nullptr);
    }
    return out;
  }
#endif
  // A weight gradient (a transposed) whose width n is not a multiple of 32 and at most half
  // its height, as (x^T @ dL/dpre)^T: MKL's generic kernels (AMD) ran dL/dpre^T @ x at 67
  // GFLOP/s and the swapped product at 81 for a (500, 125) gradient over 11,616 rows (one
  // thread, Zen 4). Training step, LSTM B = 32, T = 200, A/B (benchmarks/probes/env_ab.py
  // RNNKIT_NATIVE_NO_WGRAD_SWAP=1): 2-7% faster at H = 99-250 but 3-5% slower at H = 64
  // and 128, whose widths the generic kernels take well; on two threads 1-7% slower
  // (LSTM and GRU, B = 16-64, H = 72-450), so one thread only.
  if (!bias.defined() && a.scalar_type() == at::kFloat && at::get_num_threads() == 1 &&
      !a.is_contiguous() && a.t().is_contiguous() && b.is_contiguous() &&
      b.size(1) % 32 != 0 && a.size(0) >= 2 * b.size(1) && !settings().no_wgrad_swap)
    return at::mm(b.t(), a.t()).t().contiguous();
  return bias.defined() ? at::addmm(bias, a, b) : at::mm(a, b);
}

}  // namespace
