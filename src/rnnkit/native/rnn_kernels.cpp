// rnnkit's native BPTT kernels: the forward and backward time loops of one layer in one
// direction, for RNN (tanh/relu), LSTM (with optional projection) and GRU, in float32/64.
//
// Why this design (see docs/PERFORMANCE.md for the profile behind it):
// - At small B and H the engine's time goes to per-step call overhead (about ten ATen calls
//   per step, several microseconds each), not to arithmetic. Here a step is one BLAS call
//   (sgemm_/dgemm_ straight into MKL, which libtorch_cpu exports) plus one fused loop over the
//   gates: no tensor is created inside the time loop and no dispatcher is crossed.
// - The gate pre-activations of all steps are computed by one batched matmul before the loop;
//   the recurrent GEMM of step t accumulates into that buffer in place, and the gate loop
//   overwrites it with the activations that backward needs, so forward allocates nothing
//   per step and saves no separate pre-activation copy.
// - Weight gradients are three batched matmuls over all T*B rows after the backward sweep.
// - float32 uses a branch-free exp (Cody-Waite reduction + the Cephes degree-6 polynomial,
//   relative error < 2e-7) that GCC vectorises to AVX2/AVX-512 with -march=native;
//   sigmoid(x) = 1/(1+exp(-x)) and tanh(x) = 1 - 2/(1+exp(2x)) follow, with absolute error
//   below 3e-7 (checked in tests/native). float64 uses the libm functions, exact to the ulp,
//   so float64 gradcheck compares against the true function.
//
// Shapes: x (T, B, I); pre/act (T, B, G*H); h (B, Hr); c (B, H); Hr = P (projection) or H.
// Row-major throughout; BLAS is column-major, so each GEMM below is written transposed.
//
// The headers, shared with the generated custom cells (custom_loop.h), one job each:
// gemm.h decides which kernel runs each matmul (blas.h: MKL; small_mm.h: the AVX2
// micro-kernel; panel_gemm.h: the AVX-512 panel GEMM; packing.h: weights packed once per
// call), activations.h, threading.h (when to fork), settings.h (the RNNKIT_NATIVE_* switches,
// read once), tensors.h.

#include "activations.h"
#include "gemm.h"
#include "lowp.h"
#include "packing.h"
#include "settings.h"
#include "tensors.h"
#include "threading.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

enum Mode { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

// ------------------------------------------------------------------------------------------
// Forward

// Inference of an LSTM (no projection) at batch >= 16, or with weights within L2, on the panel
// kernel: the batched input projection wrote and re-read a (T, B, 4H) buffer and, on this AMD
// machine, ran on MKL's generic path at I < 128; one panel GEMM per step with K = I + H + 1
// (the bias as a column of ones) measured faster (docs/PERFORMANCE.md). Below batch 16 each
// step would stream W_ih as well for too few rows, unless all the weights stay in L2
// (kFuseL2Bytes) and there are two rows or more: there the batched projection was the cost (an
// ATen GEMM on MKL's generic kernel at sums under 128; 43% of an LSTM H = 121, B = 9, T = 257
// inference in perf), and fusing measured 10-17% faster at H = 97-121, B = 4-9, T = 257-873
// and 4-9% at B = 2-3 (A/B against the previous build, idle Zen 4, one thread; about even at
// 2.4-2.9 MB of weights, H = 277-300, B = 4-8). At one row a step is bound by loading the
// weights, and loading W_ih too cost 35% (H = 128, T = 500). Nor past kFuseMaxBytes of [W_ih,
// W_hh, b]: streaming them every step then cost more than one batched projection (AMD EPYC Zen
// 4, 1 MB L2 and 32 MB L3, T = 22, B = 20-128, quiet machine, benchmarks/probes/env_ab.py
// RNNKIT_NATIVE_NO_FUSE=1: fused 2-12% faster up to H = 640, 13 MB; 5-10% slower at H = 700,
// 15.7 MB; 1.5x slower at H = 1024, B = 20). RNNKIT_NATIVE_NO_FUSE turns it off (A/B timing).
constexpr int64_t kFuseMaxBytes = int64_t(14) << 20;
constexpr int64_t kFuseL2Bytes = int64_t(1) << 20;

template <typename T>
bool fuse_input_step(int64_t mode, bool save, bool proj, int64_t B, int64_t steps,
                     int64_t rows, int64_t cols) {
  const int64_t bytes = rows * cols * int64_t(sizeof(float));
  const bool rows_pay = B >= 16 || (B >= 2 && bytes <= kFuseL2Bytes);
  return std::is_same_v<T, float> && mode == LSTM && !save && !proj && rows_pay &&
         panels_on() && bytes <= kFuseMaxBytes && PackedWeights::pays(steps, B, rows, cols) &&
         !settings().no_fuse;
}

// The gates of one batch row, one step (inference and the training forward alike). Each
// row function runs its whole vectors of columns in place (``*_cols``), then the last
// H % kLanes through the same code on zero-padded copies (activations.h says why).

// LSTM: a = [i f g o] pre-activations, gate stride gs; c' = f c + i g, h' = o tanh(c'). With
// save the activations overwrite a and tanh(c') goes to tc (backward reads them); h' goes
// to out. N > 0 fixes the column count at compile time (the padded tail).
template <typename T, int64_t N = 0>
inline void lstm_cols(T* __restrict a, int64_t gs, const T* __restrict cp, T* __restrict cn,
                      T* __restrict tc, T* __restrict out, int64_t n, bool save) {
  using A = Act<T>;
  T* __restrict ai = a;
  T* __restrict af = a + gs;
  T* __restrict ag = a + 2 * gs;
  T* __restrict ao = a + 3 * gs;
  const int64_t m = N > 0 ? N : n;
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) {
    const T i = A::sigmoid(ai[j]), f = A::sigmoid(af[j]);
    const T g = A::tanh(ag[j]), o = A::sigmoid(ao[j]);
    const T cv = f * cp[j] + i * g;
    const T tv = A::tanh(cv);
    if (save) {  // inference keeps no activations (GCC unswitches this loop)
      ai[j] = i;
      af[j] = f;
      ag[j] = g;
      ao[j] = o;
      tc[j] = tv;
    }
    cn[j] = cv;
    out[j] = o * tv;
  }
}

template <typename T>
inline void lstm_row(T* a, const T* cp, T* cn, T* tc, T* out, int64_t H, bool save) {
  const int64_t v = vector_cols<T>(H), r = H - v;
  lstm_cols<T>(a, H, cp, cn, tc, out, v, save);
  if (r == 0) return;
  alignas(64) T pa[4 * kLanes] = {}, pc[kLanes] = {}, pn[kLanes], pt[kLanes], po[kLanes];
  copy_gates(pa, kLanes, a + v, H, 4, r);
  std::memcpy(pc, cp + v, sizeof(T) * r);
  lstm_cols<T, kLanes>(pa, kLanes, pc, pn, pt, po, kLanes, save);
  if (save) {
    copy_gates(a + v, H, pa, kLanes, 4, r);
    std::memcpy(tc + v, pt, sizeof(T) * r);
  }
  std::memcpy(cn + v, pn, sizeof(T) * r);
  std::memcpy(out + v, po, sizeof(T) * r);
}

// GRU: a = W_ih x + b_ih for [r z n], s = W_hh h, b_hh (or null), gate stride gs;
// h' = n + z (h - n). With save: activations into a, W_hn h + b_hn into hn.
template <typename T, int64_t N = 0>
inline void gru_cols(T* __restrict a, const T* __restrict s, const T* __restrict bhh,
                     int64_t gs, const T* __restrict hp, T* __restrict hn,
                     T* __restrict out, int64_t n, bool save) {
  using A = Act<T>;
  T* __restrict xr = a;
  T* __restrict xz = a + gs;
  T* __restrict xn = a + 2 * gs;
  const T* __restrict sr = s;
  const T* __restrict sz = s + gs;
  const T* __restrict sn = s + 2 * gs;
  const int64_t m = N > 0 ? N : n;
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) {
    const T br = bhh ? bhh[j] : T(0), bz = bhh ? bhh[gs + j] : T(0);
    const T bn = bhh ? bhh[2 * gs + j] : T(0);
    const T r = A::sigmoid(xr[j] + sr[j] + br);
    const T z = A::sigmoid(xz[j] + sz[j] + bz);
    const T hv = sn[j] + bn;
    const T n = A::tanh(xn[j] + r * hv);
    if (save) {
      xr[j] = r;
      xz[j] = z;
      xn[j] = n;
      hn[j] = hv;
    }
    out[j] = n + z * (hp[j] - n);
  }
}

template <typename T>
inline void gru_row(T* a, const T* s, const T* bhh, const T* hp, T* hn, T* out, int64_t H,
                    bool save) {
  const int64_t v = vector_cols<T>(H), r = H - v;
  gru_cols<T>(a, s, bhh, H, hp, hn, out, v, save);
  if (r == 0) return;
  alignas(64) T pa[3 * kLanes] = {}, ps[3 * kLanes] = {}, pb[3 * kLanes] = {};
  alignas(64) T ph[kLanes] = {}, pn[kLanes], po[kLanes];
  copy_gates(pa, kLanes, a + v, H, 3, r);
  copy_gates(ps, kLanes, s + v, H, 3, r);
  if (bhh) copy_gates(pb, kLanes, bhh + v, H, 3, r);
  std::memcpy(ph, hp + v, sizeof(T) * r);
  gru_cols<T, kLanes>(pa, ps, bhh ? pb : nullptr, kLanes, ph, pn, po, kLanes, save);
  if (save) {
    copy_gates(a + v, H, pa, kLanes, 3, r);
    std::memcpy(hn + v, pn, sizeof(T) * r);
  }
  std::memcpy(out + v, po, sizeof(T) * r);
}

// Elman: h' = act(a), also written back into a (backward reads the activation).
template <typename T, int64_t N = 0>
inline void rnn_cols(int64_t mode, T* __restrict a, T* __restrict out, int64_t n) {
  using A = Act<T>;
  const int64_t m = N > 0 ? N : n;
  if (mode == RNN_TANH) {
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) out[j] = a[j] = A::tanh(a[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) out[j] = a[j] = a[j] > T(0) ? a[j] : T(0);
  }
}

template <typename T>
inline void rnn_row(int64_t mode, T* a, T* out, int64_t H) {
  const int64_t v = vector_cols<T>(H), r = H - v;
  rnn_cols<T>(mode, a, out, v);
  if (r == 0) return;
  alignas(64) T pa[kLanes] = {}, po[kLanes];
  std::memcpy(pa, a + v, sizeof(T) * r);
  rnn_cols<T, kLanes>(mode, pa, po, kLanes);
  std::memcpy(a + v, pa, sizeof(T) * r);
  std::memcpy(out + v, po, sizeof(T) * r);
}

// One inference step's entries (step_kept, step_lowp): x (B, I) and h (B, H) float32 on the
// CPU, and c like h for an LSTM.
inline void check_step(const char* entry, int64_t mode, const Tensor& x, const Tensor& h,
                       const c10::optional<Tensor>& c) {
  TORCH_CHECK(x.dim() == 2 && h.dim() == 2 && x.is_cpu() && x.scalar_type() == at::kFloat &&
                  h.scalar_type() == at::kFloat && x.size(0) == h.size(0),
              "rnnkit native: ", entry, " takes float32 CPU x (B, I) and h (B, H)");
  TORCH_CHECK(mode != LSTM || (c.has_value() && c->sizes() == h.sizes()),
              "rnnkit native: ", entry, " needs c like h for an LSTM");
}

// The gates of n rows of one inference step: pre-activations a (n, G*H) (and s = W_hh h for
// GRU, with b_hh) -> h' rows into hn (c' into cn); hp, cp, cn, hn point at the first row.
inline void step_gates(int64_t mode, float* a, const float* s, const float* bhh,
                       const float* hp, const float* cp, float* cn, float* hn, int64_t n,
                       int64_t H) {
  const int64_t GH = (mode == LSTM ? 4 : (mode == GRU ? 3 : 1)) * H;
  for (int64_t b = 0; b < n; ++b) {
    if (mode == LSTM) {
      lstm_row<float>(a + b * GH, cp + b * H, cn + b * H, nullptr, hn + b * H, H, false);
    } else if (mode == GRU) {
      gru_row<float>(a + b * GH, s + b * GH, bhh, hp + b * H, nullptr, hn + b * H, H, false);
    } else {
      rnn_row<float>(mode, a + b * GH, hn + b * H, H);
    }
  }
}

template <typename T>
std::vector<Tensor> forward_impl(int64_t mode, const Tensor& x, const Tensor& h0,
                                 const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                                 const Tensor& b_ih, const Tensor& b_hh, const Tensor& w_hr,
                                 const Tensor& mask, bool reverse, bool save,
                                 const lowp::Weights* lw_ih = nullptr,
                                 const lowp::Weights* lw_hh = nullptr,
                                 const PackedWeights* kept = nullptr,
                                 const PackedWeights* kept_ih = nullptr) {
  // lw_ih / lw_hh: reduced-precision W_ih / W_hh (lowp.h; float32 inference only), which
  // then stand in for the undefined w_ih / w_hh. kept: panels packed once per model
  // (step_pack), float32 inference only: W_hh^T for the steps, and kept_ih = [W_ih, b]^T for
  // the input projection of all steps at once (an ATen addmm costs microseconds a call).
  using A = Act<T>;
  const bool low = lw_hh != nullptr;
  const int64_t Tn = x.size(0), B = x.size(1), I = x.size(2);
  const int64_t GH = low ? lw_hh->N : w_hh.size(0), Hr = low ? lw_hh->K : w_hh.size(1);
  const int64_t G = mode == LSTM ? 4 : (mode == GRU ? 3 : 1);
  const int64_t H = GH / G;
  const bool proj = w_hr.defined();
  auto opts = x.options();

  // LSTM inference on the panel kernel (fuse_input_step): one GEMM per step over
  // [x_t, h, 1] against [W_ih, W_hh, b]^T into a (B, 4H) scratch, no (T, B, 4H) buffer.
  const int64_t KX = I + Hr + 1;  // fused: the columns of [x_t, h, 1]
  const bool fused = !kept && !low && fuse_input_step<T>(mode, save, proj, B, Tn, GH, KX);
  PackedWeights pk_cat;
  Tensor xh, pre;  // pre (T, B, G*H): pre-activations, overwritten by the activations
  if (fused) {
#ifdef RNNKIT_PANEL_MM
    Tensor bias = b_ih.defined() ? b_ih + b_hh : Tensor();
    pk_cat.pack_cat(w_ih.data_ptr<float>(), I, w_hh.data_ptr<float>(), Hr,
                    bias.defined() ? bias.data_ptr<float>() : nullptr, GH);
#endif
    xh = at::empty({B, KX}, opts);
    T* ones = ptr<T>(xh) + KX - 1;  // the bias column (a loop: select + fill_ cost ~2 us)
    for (int64_t b = 0; b < B; ++b) ones[b * KX] = T(1);
    pre = at::empty({1, B, GH}, opts);
  } else {
    // Input projection for all steps at once; RNN and LSTM fold b_hh in here too.
    Tensor x2 = x.reshape({Tn * B, I});
    StepGemmThreads threads(Tn * B * GH * I, kBatchedThreadedMacs);
    if (kept_ih) {
#ifdef RNNKIT_PANEL_MM
      if constexpr (std::is_same_v<T, float>) {
        pre = at::empty({Tn * B, GH}, opts);
        kept_ih->mm_bias_row(x.data_ptr<float>(), I, pre.data_ptr<float>(), Tn * B);
      }
#endif
    } else if (low) {
      if constexpr (std::is_same_v<T, float>) {
        Tensor bias = b_ih.defined() ? (mode == GRU ? b_ih : b_ih + b_hh) : Tensor();
        pre = bias.defined() ? bias.expand({Tn * B, GH}).contiguous()
                             : at::empty({Tn * B, GH}, opts);
        lowp::mm(*lw_ih, x2.data_ptr<float>(), Tn * B, pre.data_ptr<float>(), GH,
                 bias.defined() ? 1.f : 0.f, Tn * B * GH * I >= kBatchedThreadedMacs);
      }
    } else if (std::is_same_v<T, double>) {
      // float64 is the checking precision: the projection B rows (one step) at a time, so
      // that a sequence fed one step per call gives bit for bit the whole call's output
      // (BLAS rounds a GEMM of T * B rows differently from one of B rows).
      Tensor bias = b_ih.defined() ? (mode == GRU ? b_ih : b_ih + b_hh) : Tensor();
      pre = at::empty({Tn * B, GH}, opts);
      for (int64_t t = 0; t < Tn; ++t)
        pre.narrow(0, t * B, B).copy_(batched_mm(x[t], w_ih.t(), bias));
    } else if (b_ih.defined()) {
      Tensor bias = mode == GRU ? b_ih : b_ih + b_hh;
      pre = batched_mm(x2, w_ih.t(), bias);
    } else {
      pre = batched_mm(x2, w_ih.t());
    }
    pre = pre.view({Tn, B, GH});
  }

  Tensor y = at::empty({Tn, B, Hr}, opts);
  Tensor h = h0.clone();  // running state (B, Hr)
  Tensor c = mode == LSTM ? c0.clone() : Tensor();
  Tensor h_prev_all = save ? at::empty({Tn, B, Hr}, opts) : Tensor();
  Tensor c_prev_all = save && mode == LSTM ? at::empty({Tn, B, H}, opts) : Tensor();
  // LSTM: tanh(c_t); GRU: W_hn h + b_hn. Saved per step for backward, else per-step scratch.
  Tensor aux = (mode == LSTM || mode == GRU) ? at::empty({save ? Tn : 1, B, H}, opts) : Tensor();
  Tensor m_all = proj ? at::empty({save ? Tn : 1, B, H}, opts) : Tensor();
  Tensor c_new = mode == LSTM ? at::empty({B, H}, opts) : Tensor();
  Tensor h_new = at::empty({B, Hr}, opts);
  Tensor hs = mode == GRU ? at::empty({B, GH}, opts) : Tensor();  // GRU: W_hh h

  T* P = ptr<T>(pre);
  T* Y = ptr<T>(y);
  T* hc = ptr<T>(h);
  T* cc = ptr<T>(c);
  T* HP = ptr<T>(h_prev_all);
  T* CP = ptr<T>(c_prev_all);
  T* AUX = ptr<T>(aux);
  T* M = ptr<T>(m_all);
  T* cn = ptr<T>(c_new);
  T* hn = ptr<T>(h_new);
  T* HS = ptr<T>(hs);
  const T* Whh = ptr<T>(w_hh);
  const T* Whr = ptr<T>(w_hr);
  const bool small = !low && !kept && use_small_mm<T>(B, GH, Hr);
  Tensor whh_t = small ? w_hh.t().contiguous() : Tensor();  // (Hr, G*H) for the micro-kernel
  Tensor whr_t = small && proj ? w_hr.t().contiguous() : Tensor();  // (H, P)
  const T* WhhT = ptr<T>(whh_t);
  const T* WhrT = ptr<T>(whr_t);
  PackedWeights pk_hh, pk_hr;  // float32 at B > 2: packed once here, used every step
  const PackedWeights* hh = kept ? kept : &pk_hh;
  if constexpr (std::is_same_v<T, float>) {
    if (!small && !fused && B > 0 && PackedWeights::pays(Tn, B, GH, Hr)) {
      if (!low && hh == &pk_hh) pk_hh.pack(Whh, GH, Hr, true, B);
      if (proj) pk_hr.pack(Whr, Hr, H, true, B);
    }
  }
  const T* bhh = mode == GRU ? ptr<T>(b_hh) : nullptr;
  const T* X = ptr<T>(x);
  T* XH = ptr<T>(xh);
  const bool* MK = mask.defined() ? mask.data_ptr<bool>() : nullptr;

  // Rows [r0, r1) of the batch through all steps. Rows are independent through time, so
  // with several threads each runs its own rows (batch_chunks): no synchronisation per
  // step, where splitting each step's GEMM and gate loop cost two fork/joins per step.
  auto sweep = [&](int64_t r0, int64_t r1) {
  const int64_t Bs = r1 - r0;
  T* hcs = hc + r0 * Hr;
  T* ccs = cc ? cc + r0 * H : nullptr;
  T* cns = cn ? cn + r0 * H : nullptr;
  T* hns = hn + r0 * Hr;
  T* HSs = HS ? HS + r0 * GH : nullptr;
  T* XHs = XH ? XH + r0 * KX : nullptr;
  StepGemmThreads threads(Bs * GH * Hr);
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = reverse ? Tn - 1 - s : s;
    T* a = P + ((fused ? 0 : t) * B + r0) * GH;  // (Bs, G*H)
    T* aux_t = AUX ? AUX + ((save ? t : 0) * B + r0) * H : nullptr;
    T* m_t = M ? M + ((save ? t : 0) * B + r0) * H : nullptr;
    if (save) {
      std::memcpy(HP + (t * B + r0) * Hr, hcs, sizeof(T) * Bs * Hr);
      if (CP) std::memcpy(CP + (t * B + r0) * H, ccs, sizeof(T) * Bs * H);
    }
    if (fused) {
      if constexpr (std::is_same_v<T, float>) {
        for (int64_t b = 0; b < Bs; ++b) {
          std::memcpy(XHs + b * KX, X + (t * B + r0 + b) * I, sizeof(T) * I);
          std::memcpy(XHs + b * KX + I, hcs + b * Hr, sizeof(T) * Hr);
        }
        pk_cat.mm(XHs, a, Bs, 0.f);
      }
    } else if (low) {
      if constexpr (std::is_same_v<T, float>)
        lowp::mm(*lw_hh, hcs, Bs, mode == GRU ? HSs : a, GH, mode == GRU ? 0.f : 1.f);
    } else if (mode == GRU) {
      rec_mm<T>(hcs, Whh, WhhT, HSs, Bs, GH, Hr, T(0), hh);
    } else {
      rec_mm<T>(hcs, Whh, WhhT, a, Bs, GH, Hr, T(1), hh);
    }
    for_rows(Bs, GH, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* ar = a + b * GH;
        if (mode == LSTM) {
          lstm_row<T>(ar, ccs + b * H, cns + b * H, aux_t + b * H,
                      proj ? m_t + b * H : hns + b * Hr, H, save);
        } else if (mode == GRU) {
          gru_row<T>(ar, HSs + b * GH, bhh, hcs + b * Hr, aux_t + b * H, hns + b * Hr, H,
                     save);
        } else {
          rnn_row<T>(mode, ar, hns + b * Hr, H);
        }
      }
    });
    if (proj) rec_mm<T>(m_t, Whr, WhrT, hns, Bs, Hr, H, T(0), &pk_hr);  // h' = W_hr m, (Bs, P)
    // Commit: a padded step outputs zero and carries the state through unchanged.
    T* y_t = Y + (t * B + r0) * Hr;
    if (!MK) {
      std::memcpy(y_t, hns, sizeof(T) * Bs * Hr);
      std::memcpy(hcs, hns, sizeof(T) * Bs * Hr);
      if (ccs) std::memcpy(ccs, cns, sizeof(T) * Bs * H);
    } else {
      const bool* mk = MK + t * B + r0;
      for (int64_t b = 0; b < Bs; ++b) {
        if (mk[b]) {
          std::memcpy(y_t + b * Hr, hns + b * Hr, sizeof(T) * Hr);
          std::memcpy(hcs + b * Hr, hns + b * Hr, sizeof(T) * Hr);
          if (ccs) std::memcpy(ccs + b * H, cns + b * H, sizeof(T) * H);
        } else {
          std::memset(y_t + b * Hr, 0, sizeof(T) * Hr);
        }
      }
    }
  }
  };
  batch_chunks(B, sweep);
  // Saved for backward: activations (pre), aux (tanh c / W_hn h + b_hn), states, m.
  return {y, h, c, pre, aux, h_prev_all, c_prev_all, m_all};
}

// ------------------------------------------------------------------------------------------
// Backward

template <typename T>
std::vector<Tensor> backward_impl(int64_t mode, const Tensor& x, const Tensor& w_ih,
                                  const Tensor& w_hh, const Tensor& w_hr, bool has_bias,
                                  const Tensor& act, const Tensor& aux, const Tensor& h_prev_all,
                                  const Tensor& c_prev_all, const Tensor& m_all,
                                  const Tensor& mask, bool reverse, const Tensor& dy_in,
                                  const Tensor& dh_n, const Tensor& dc_n, bool want_norms,
                                  std::vector<bool> need) {
  const int64_t Tn = x.size(0), B = x.size(1), I = x.size(2);
  const int64_t GH = w_hh.size(0), Hr = w_hh.size(1);
  const int64_t G = mode == LSTM ? 4 : (mode == GRU ? 3 : 1);
  const int64_t H = GH / G;
  const bool proj = w_hr.defined();
  auto opts = x.options();
  Tensor dy = dy_in.contiguous();

  Tensor dpx = at::empty({Tn, B, GH}, opts);  // dL/d(input pre-activations)
  Tensor dph = mode == GRU ? at::empty({Tn, B, GH}, opts) : dpx;  // dL/d(W_hh h + b_hh)
  // dL/dh_t per step: kept whole when the projection's weight gradient needs it.
  Tensor dh_all = at::empty({proj ? Tn : 1, B, Hr}, opts);
  Tensor norms = want_norms ? at::empty({Tn, B}, opts) : Tensor();
  Tensor g = dh_n.defined() ? dh_n.clone() : at::zeros({B, Hr}, opts);
  Tensor dc;
  if (mode == LSTM) dc = dc_n.defined() ? dc_n.clone() : at::zeros({B, H}, opts);
  Tensor dm_buf = proj ? at::empty({B, H}, opts) : Tensor();

  const T* ACT = ptr<T>(act);
  const T* AUX = ptr<T>(aux);
  const T* HP = ptr<T>(h_prev_all);
  const T* CP = ptr<T>(c_prev_all);
  const T* DY = ptr<T>(dy);
  const T* Whh = ptr<T>(w_hh);
  const T* Whr = ptr<T>(w_hr);
  T* DPX = ptr<T>(dpx);
  T* DPH = ptr<T>(dph);
  T* DH = ptr<T>(dh_all);
  T* NR = ptr<T>(norms);
  T* gp = ptr<T>(g);
  T* dcp = ptr<T>(dc);
  T* DM = ptr<T>(dm_buf);
  const bool* MK = mask.defined() ? mask.data_ptr<bool>() : nullptr;
  const bool small = use_small_mm<T>(B, GH, Hr);
  PackedWeights pk_hh, pk_hr;  // float32 at B > 2: W_hh and W_hr as they are, packed once
  if constexpr (std::is_same_v<T, float>) {
    if (!small && B > 0 && PackedWeights::pays(Tn, B, GH, Hr)) {
      pk_hh.pack(Whh, GH, Hr, false, B);
      if (proj) pk_hr.pack(Whr, Hr, H, false, B);
    }
  }

  // Rows [r0, r1) through all steps, backwards; rows are independent (see forward).
  auto sweep = [&](int64_t r0, int64_t r1) {
  const int64_t Bs = r1 - r0;
  T* gps = gp + r0 * Hr;
  T* DMs = DM ? DM + r0 * H : nullptr;
  StepGemmThreads threads(Bs * GH * Hr);
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = reverse ? s : Tn - 1 - s;  // the forward walk, backwards
    const int64_t row = t * B + r0;  // (t, r0) in the (T, B, ...) buffers
    T* dh = DH + ((proj ? t : 0) * B + r0) * Hr;
    const T* dyt = DY + row * Hr;
    const bool* mk = MK ? MK + row : nullptr;
    for (int64_t k = 0; k < Bs * Hr; ++k) dh[k] = gps[k] + dyt[k];
    if (mk) {
      for (int64_t b = 0; b < Bs; ++b)
        if (!mk[b]) std::memset(dh + b * Hr, 0, sizeof(T) * Hr);
    }
    if (NR) {
      for (int64_t b = 0; b < Bs; ++b) {
        T acc = 0;
        for (int64_t j = 0; j < Hr; ++j) acc += dh[b * Hr + j] * dh[b * Hr + j];
        NR[row + b] = std::sqrt(acc);
      }
    }
    const T* dm = dh;
    if (proj) {
      rec_mm_grad<T>(dh, Whr, small, DMs, Bs, Hr, H, T(0), &pk_hr);  // dm = dh @ W_hr
      dm = DMs;
    }
    const T* at_ = ACT + row * GH;
    T* dpx_t = DPX + row * GH;
    T* dph_t = DPH + row * GH;
    for_rows(Bs, GH, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const bool valid = !mk || mk[b];
        T* __restrict dxr = dpx_t + b * GH;
        T* __restrict gr = gps + b * Hr;
        if (!valid) {
          // No gradient reaches a padded step: its pre-activation gradients are zero and
          // dL/dh, dL/dc pass straight through (g and dc rows left as they are).
          std::memset(dxr, 0, sizeof(T) * GH);
          if (mode == GRU) std::memset(dph_t + b * GH, 0, sizeof(T) * GH);
          continue;
        }
        const T* __restrict dmr = dm + b * H;
        const T* __restrict ar = at_ + b * GH;
        if (mode == LSTM) {
          const T* __restrict ai = ar;
          const T* __restrict af = ar + H;
          const T* __restrict ag = ar + 2 * H;
          const T* __restrict ao = ar + 3 * H;
          const T* __restrict tc = AUX + (row + b) * H;
          const T* __restrict cp = CP + (row + b) * H;
          T* __restrict dcr = dcp + (r0 + b) * H;
          T* __restrict di = dxr;
          T* __restrict df = dxr + H;
          T* __restrict dg = dxr + 2 * H;
          T* __restrict dO = dxr + 3 * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const T i = ai[j], f = af[j], gg = ag[j], o = ao[j], tv = tc[j];
            const T dct = dcr[j] + dmr[j] * o * (T(1) - tv * tv);  // total dL/dc_t
            di[j] = dct * gg * i * (T(1) - i);
            df[j] = dct * cp[j] * f * (T(1) - f);
            dg[j] = dct * i * (T(1) - gg * gg);
            dO[j] = dmr[j] * tv * o * (T(1) - o);
            dcr[j] = dct * f;
          }
          std::memset(gr, 0, sizeof(T) * Hr);  // the recurrent GEMM below adds to it
        } else if (mode == GRU) {
          const T* __restrict r_ = ar;
          const T* __restrict z_ = ar + H;
          const T* __restrict n_ = ar + 2 * H;
          const T* __restrict hv = AUX + (row + b) * H;
          const T* __restrict hp = HP + (row + b) * Hr;
          T* __restrict dhr = dph_t + b * GH;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const T r = r_[j], z = z_[j], n = n_[j], d = dmr[j];
            const T dan = d * (T(1) - z) * (T(1) - n * n);
            const T dar = dan * hv[j] * r * (T(1) - r);
            const T daz = d * (hp[j] - n) * z * (T(1) - z);
            dxr[j] = dar;
            dxr[H + j] = daz;
            dxr[2 * H + j] = dan;
            dhr[j] = dar;
            dhr[H + j] = daz;
            dhr[2 * H + j] = dan * r;
            gr[j] = d * z;  // the direct path h' = ... + z h
          }
        } else {
          if (mode == RNN_TANH) {
#pragma omp simd
            for (int64_t j = 0; j < H; ++j) dxr[j] = dmr[j] * (T(1) - ar[j] * ar[j]);
          } else {
#pragma omp simd
            for (int64_t j = 0; j < H; ++j) dxr[j] = ar[j] > T(0) ? dmr[j] : T(0);
          }
          std::memset(gr, 0, sizeof(T) * Hr);
        }
      }
    });
    rec_mm_grad<T>(dph_t, Whh, small, gps, Bs, GH, Hr, T(1), &pk_hh);  // g += d_pre_h @ W_hh
  }
  };
  batch_chunks(B, sweep);


  // Weight gradients: one batched matmul each over all T*B rows.
  const int64_t rows = Tn * B;
  StepGemmThreads batched_threads(rows * GH * std::max(I, Hr), kBatchedThreadedMacs);
  Tensor dpx2 = dpx.view({rows, GH}), dph2 = dph.view({rows, GH});
  Tensor dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr;
  if (need[0]) dx = batched_mm(dpx2, w_ih).view({Tn, B, I});
  if (need[1]) dw_ih = batched_mm(dpx2.t(), x.reshape({rows, I}));
  if (need[2]) dw_hh = batched_mm(dph2.t(), h_prev_all.view({rows, Hr}));
  if (has_bias && (need[3] || need[4])) {
    db_ih = dpx2.sum(0);
    db_hh = mode == GRU ? dph2.sum(0) : db_ih.clone();
  }
  if (proj && need[5]) dw_hr = batched_mm(dh_all.view({rows, Hr}).t(), m_all.view({rows, H}));
  return {dx, g, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr, norms};
}

std::vector<Tensor> forward(int64_t mode, const Tensor& x, const Tensor& h0,
                            const c10::optional<Tensor>& c0, const Tensor& w_ih,
                            const Tensor& w_hh, const c10::optional<Tensor>& b_ih,
                            const c10::optional<Tensor>& b_hh, const c10::optional<Tensor>& w_hr,
                            const c10::optional<Tensor>& mask, bool reverse, bool save) {
  TORCH_CHECK(x.dim() == 3 && x.is_cpu(), "rnnkit native: x must be a (T, B, I) CPU tensor");
  c10::NoGradGuard no_grad;  // the autograd Function records the graph, not these ops
  Tensor xc = x.contiguous(), h0c = h0.contiguous(), c0c = opt(c0);
  if (c0c.defined()) c0c = c0c.contiguous();
  Tensor wih = w_ih.contiguous(), whh = w_hh.contiguous(), bih = opt(b_ih), bhh = opt(b_hh);
  Tensor whr = opt(w_hr);
  if (bih.defined()) bih = bih.contiguous(), bhh = bhh.contiguous();
  if (whr.defined()) whr = whr.contiguous();
  Tensor mk = opt(mask);
  if (mk.defined()) mk = mk.to(at::kBool).contiguous();
  if (x.scalar_type() == at::kFloat)
    return forward_impl<float>(mode, xc, h0c, c0c, wih, whh, bih, bhh, whr, mk, reverse, save);
  TORCH_CHECK(x.scalar_type() == at::kDouble, "rnnkit native: float32 or float64 only");
  return forward_impl<double>(mode, xc, h0c, c0c, wih, whh, bih, bhh, whr, mk, reverse, save);
}

// int8 weights packed once when a layer is quantised: W (N, K) in lowp.h's panel layout (a
// uint8 tensor of bytes). bfloat16 weights are used as they are.
Tensor lowp_pack(const Tensor& w) {
  TORCH_CHECK(w.dim() == 2 && w.scalar_type() == at::kChar,
              "rnnkit native: lowp_pack takes a 2-D int8 weight");
  Tensor wc = w.contiguous();
  auto bytes = lowp::pack(wc.data_ptr<int8_t>(), wc.size(0), wc.size(1));
  Tensor out = at::empty({int64_t(bytes.size())}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(out.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return out;
}

// lowp::Weights for a weight of (N, K): int8 packed by lowp_pack, with its scale and rowsum
// (N,); or bfloat16 (N, K) as it is.
lowp::Weights lowp_weights(int64_t kind, const Tensor& packed, int64_t N, int64_t K,
                           const Tensor& scale, const Tensor& rowsum) {
  lowp::Weights w;
  w.kind = lowp::Kind(kind);
  TORCH_CHECK(w.kind == lowp::INT8 || w.kind == lowp::BF16, "rnnkit native: unknown lowp kind");
  w.N = N, w.K = K;
  if (w.kind == lowp::BF16) {
    TORCH_CHECK(packed.scalar_type() == at::kBFloat16 && packed.is_contiguous() &&
                    packed.dim() == 2 && packed.size(0) == N && packed.size(1) == K,
                "rnnkit native: bfloat16 weights must be contiguous (N, K)");
    w.packed = static_cast<const uint8_t*>(packed.data_ptr());
    return w;
  }
  const int64_t bytes = lowp::round_up(N, lowp::PANEL * lowp::NB) * w.Kp();
  TORCH_CHECK(packed.scalar_type() == at::kByte && packed.is_contiguous() &&
                  packed.numel() == bytes,
              "rnnkit native: packed int8 weights do not match their shape");
  w.packed = packed.data_ptr<uint8_t>();
  if (w.kind == lowp::INT8) {
    TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.numel() == N && scale.is_contiguous() &&
                    rowsum.scalar_type() == at::kInt && rowsum.numel() == N &&
                    rowsum.is_contiguous(),
                "rnnkit native: int8 weights need float32 scales and int32 row sums, one per row");
    w.scale = scale.data_ptr<float>();
    w.rowsum = rowsum.data_ptr<int32_t>();
  }
  return w;
}

// Inference with reduced-precision W_ih and W_hh (packed by lowp_pack); float32 x, states,
// biases and W_hr. Returns y, h_n, c_n.
std::vector<Tensor> forward_lowp(int64_t mode, const Tensor& x, const Tensor& h0,
                                 const c10::optional<Tensor>& c0, int64_t kind, int64_t gh,
                                 const Tensor& p_ih, const c10::optional<Tensor>& s_ih,
                                 const c10::optional<Tensor>& r_ih, const Tensor& p_hh,
                                 const c10::optional<Tensor>& s_hh,
                                 const c10::optional<Tensor>& r_hh,
                                 const c10::optional<Tensor>& b_ih,
                                 const c10::optional<Tensor>& b_hh,
                                 const c10::optional<Tensor>& w_hr,
                                 const c10::optional<Tensor>& mask, bool reverse) {
  TORCH_CHECK(x.dim() == 3 && x.is_cpu() && x.scalar_type() == at::kFloat,
              "rnnkit native: reduced-precision weights take a (T, B, I) float32 CPU input");
  c10::NoGradGuard no_grad;
  Tensor xc = x.contiguous(), h0c = h0.contiguous(), c0c = opt(c0);
  if (c0c.defined()) c0c = c0c.contiguous();
  Tensor bih = opt(b_ih), bhh = opt(b_hh), whr = opt(w_hr), mk = opt(mask);
  if (bih.defined()) bih = bih.contiguous(), bhh = bhh.contiguous();
  if (whr.defined()) whr = whr.contiguous();
  if (mk.defined()) mk = mk.to(at::kBool).contiguous();
  const lowp::Weights lih = lowp_weights(kind, p_ih, gh, x.size(2), opt(s_ih), opt(r_ih));
  const lowp::Weights lhh = lowp_weights(kind, p_hh, gh, h0.size(1), opt(s_hh), opt(r_hh));
  auto out = forward_impl<float>(mode, xc, h0c, c0c, Tensor(), Tensor(), bih, bhh, whr, mk,
                                 reverse, false, &lih, &lhh);
  return {out[0], out[1], out[2]};
}

// One cell step with reduced-precision W_ih and W_hh (no projection): forward_lowp's time
// loop around one step allocated eight tensors; here only the new state is allocated.
std::vector<Tensor> step_lowp(int64_t mode, const Tensor& x, const Tensor& h,
                              const c10::optional<Tensor>& c, int64_t kind, int64_t gh,
                              const Tensor& p_ih, const c10::optional<Tensor>& s_ih,
                              const c10::optional<Tensor>& r_ih, const Tensor& p_hh,
                              const c10::optional<Tensor>& s_hh,
                              const c10::optional<Tensor>& r_hh,
                              const c10::optional<Tensor>& b_ih,
                              const c10::optional<Tensor>& b_hh) {
  check_step("step_lowp", mode, x, h, c);
  const int64_t B = x.size(0), I = x.size(1), H = h.size(1);
  const int64_t G = mode == LSTM ? 4 : (mode == GRU ? 3 : 1);
  TORCH_CHECK(gh == G * H, "rnnkit native: step_lowp weights do not match the state");
  const lowp::Weights lih = lowp_weights(kind, p_ih, gh, I, opt(s_ih), opt(r_ih));
  const lowp::Weights lhh = lowp_weights(kind, p_hh, gh, H, opt(s_hh), opt(r_hh));
  Tensor xc = x.contiguous(), hc = h.contiguous();
  Tensor cc = mode == LSTM ? c->contiguous() : Tensor();
  Tensor bih = opt(b_ih), bhh = opt(b_hh);
  if (bih.defined()) bih = bih.contiguous(), bhh = bhh.contiguous();
  Tensor h_new = at::empty({B, H}, x.options());
  Tensor c_new = mode == LSTM ? at::empty({B, H}, x.options()) : Tensor();
  thread_local std::vector<float> scratch;  // pre-activations, and W_hh h for GRU
  scratch.resize(size_t(B) * gh * (mode == GRU ? 2 : 1));
  float *a = scratch.data(), *s = a + B * gh;
  const float* bi = bih.defined() ? bih.data_ptr<float>() : nullptr;
  const float* bh = bhh.defined() ? bhh.data_ptr<float>() : nullptr;
  for (int64_t b = 0; b < B; ++b) {  // a = b_ih (+ b_hh but for GRU, whose n gate needs it apart)
    float* row = a + b * gh;
    for (int64_t j = 0; j < gh; ++j)
      row[j] = bi ? bi[j] + (mode == GRU ? 0.f : bh[j]) : 0.f;
  }
  lowp::mm(lih, xc.data_ptr<float>(), B, a, gh, 1.f);
  const float *Hp = hc.data_ptr<float>(), *Cp = cc.defined() ? cc.data_ptr<float>() : nullptr;
  lowp::mm(lhh, Hp, B, mode == GRU ? s : a, gh, mode == GRU ? 0.f : 1.f);
  float *Hn = h_new.data_ptr<float>(), *Cn = c_new.defined() ? c_new.data_ptr<float>() : nullptr;
  step_gates(mode, a, s, bh, Hp, Cp, Cn, Hn, B, H);
  return {h_new, c_new};
}

// Panels packed once per model for inference at few steps per call (a decoder's step, a
// stream's chunk), where packing per call would cost as much as the steps: W_hh^T, then
// [W_ih, b]^T with b = b_ih (GRU, whose n gate needs b_hn apart) or b_ih + b_hh. Apart, not
// as one [W_ih, W_hh, b]^T for a GEMM over [x_t, h, 1]: at few rows a step streams the
// weights from memory, and over T steps the input projection then streams W_ih once where
// the fused GEMM streamed it T times (RNN T = 6, B = 3, H = 560: 0.76x of torch.nn fused).
// Empty where there is no panel kernel (no AVX-512).
Tensor step_pack(int64_t mode, const Tensor& w_ih, const Tensor& w_hh,
                 const c10::optional<Tensor>& b_ih, const c10::optional<Tensor>& b_hh) {
  c10::NoGradGuard no_grad;
  Tensor out = at::empty({0}, w_hh.options());
#ifdef RNNKIT_PANEL_MM
  TORCH_CHECK(w_hh.scalar_type() == at::kFloat, "rnnkit native: step_pack takes float32");
  Tensor wih = w_ih.contiguous(), whh = w_hh.contiguous();
  const int rows = whh.size(0), I = wih.size(1), Hr = whh.size(1);
  Tensor bias;
  if (b_ih.has_value()) bias = (mode == GRU ? *b_ih : *b_ih + *b_hh).contiguous();
  const size_t hh = PackedWeights::cat_floats(Hr - 1, 0, rows);
  out = at::empty({int64_t(hh + PackedWeights::cat_floats(I, 0, rows))}, whh.options());
  panel::pack_w(whh.data_ptr<float>(), Hr, true, 0, Hr, rows, out.data_ptr<float>());
  PackedWeights::pack_cat_into(out.data_ptr<float>() + hh, wih.data_ptr<float>(), I,
                               wih.data_ptr<float>(), 0,
                               bias.defined() ? bias.data_ptr<float>() : nullptr, rows);
#endif
  return out;
}

// Inference with panels from step_pack; returns y, h_n, c_n.
std::vector<Tensor> forward_kept(int64_t mode, const Tensor& x, const Tensor& h0,
                                 const c10::optional<Tensor>& c0, const Tensor& w_ih,
                                 const Tensor& w_hh, const c10::optional<Tensor>& b_ih,
                                 const c10::optional<Tensor>& b_hh, const Tensor& packed,
                                 const c10::optional<Tensor>& mask, bool reverse) {
  TORCH_CHECK(x.dim() == 3 && x.is_cpu() && x.scalar_type() == at::kFloat,
              "rnnkit native: kept panels take a (T, B, I) float32 CPU input");
  c10::NoGradGuard no_grad;
  PackedWeights kept, kept_ih;
#ifdef RNNKIT_PANEL_MM
  const int rows = w_hh.size(0), I = x.size(2), Hr = w_hh.size(1);
  const size_t floats = PackedWeights::cat_floats(Hr - 1, 0, rows);
  const size_t ih = PackedWeights::cat_floats(I, 0, rows);
  TORCH_CHECK(packed.numel() == int64_t(floats + ih),
              "rnnkit native: kept panels do not match the weights");
  kept.use(packed.data_ptr<float>(), rows, Hr);
  kept_ih.use(packed.data_ptr<float>() + floats, rows, I + 1);
#else
  TORCH_CHECK(false, "rnnkit native: kept panels need the AVX-512 panel kernel");
#endif
  Tensor xc = x.contiguous(), h0c = h0.contiguous(), c0c = opt(c0);
  if (c0c.defined()) c0c = c0c.contiguous();
  Tensor bih = opt(b_ih), bhh = opt(b_hh), mk = opt(mask);
  if (bih.defined()) bih = bih.contiguous(), bhh = bhh.contiguous();
  if (mk.defined()) mk = mk.to(at::kBool).contiguous();
  auto out = forward_impl<float>(mode, xc, h0c, c0c, w_ih.contiguous(), w_hh.contiguous(), bih,
                                 bhh, Tensor(), mk, reverse, false, nullptr, nullptr, &kept,
                                 &kept_ih);
  return {out[0], out[1], out[2]};
}

// One step of a cell on panels from step_pack (float32 inference): what a decoder calls per
// token. x (B, I), h (B, H), c (B, H) for LSTM; returns h', c' (undefined but for LSTM).
// forward_kept's time loop around one step allocated eight tensors and copied the state
// three times; here the new state is all that is allocated, the rest lives in per-thread
// scratch.
std::vector<Tensor> step_kept(int64_t mode, const Tensor& x, const Tensor& h,
                              const c10::optional<Tensor>& c, const Tensor& packed,
                              const c10::optional<Tensor>& b_hh) {
#ifdef RNNKIT_PANEL_MM
  check_step("step_kept", mode, x, h, c);
  const int64_t B = x.size(0), I = x.size(1), H = h.size(1);
  const int64_t G = mode == LSTM ? 4 : (mode == GRU ? 3 : 1), GH = G * H;
  const size_t floats = PackedWeights::cat_floats(H - 1, 0, GH);
  const size_t ih = PackedWeights::cat_floats(I, 0, GH);
  TORCH_CHECK(packed.numel() == int64_t(floats + ih),
              "rnnkit native: kept panels do not match the weights");
  PackedWeights cat, hh;  // cat: [W_ih, b]^T; hh: W_hh^T
  hh.use(packed.data_ptr<float>(), GH, H);
  cat.use(packed.data_ptr<float>() + floats, GH, I + 1);
  Tensor xc = x.contiguous(), hc = h.contiguous();
  Tensor cc = mode == LSTM ? c->contiguous() : Tensor();
  Tensor bhh = mode == GRU ? opt(b_hh) : Tensor();
  if (bhh.defined()) bhh = bhh.contiguous();
  Tensor h_new = at::empty({B, H}, x.options());
  Tensor c_new = mode == LSTM ? at::empty({B, H}, x.options()) : Tensor();
  const float *X = xc.data_ptr<float>(), *Hp = hc.data_ptr<float>();
  const float* Cp = cc.defined() ? cc.data_ptr<float>() : nullptr;
  const float* Bhh = bhh.defined() ? bhh.data_ptr<float>() : nullptr;
  float *Hn = h_new.data_ptr<float>(), *Cn = c_new.defined() ? c_new.data_ptr<float>() : nullptr;
  auto rows = [&](int64_t r0, int64_t r1) {
    const int64_t Bs = r1 - r0;
    thread_local std::vector<float> scratch;  // pre-activations, W_hh h (GRU)
    scratch.resize(size_t(Bs) * (GH + (mode == GRU ? GH : 0)));
    float *a = scratch.data(), *s = a + Bs * GH;
    cat.mm_bias_row(X + r0 * I, I, a, Bs);
    // a += W_hh h; GRU keeps W_hh h apart (its n gate adds b_hn before the reset gate)
    hh.mm(Hp + r0 * H, mode == GRU ? s : a, Bs, mode == GRU ? 0.f : 1.f);
    step_gates(mode, a, s, Bhh, Hp + r0 * H, Cp ? Cp + r0 * H : nullptr,
               Cn ? Cn + r0 * H : nullptr, Hn + r0 * H, Bs, H);
  };
  batch_chunks(B, rows);
  return {h_new, c_new};
#else
  TORCH_CHECK(false, "rnnkit native: kept panels need the AVX-512 panel kernel");
  return {};
#endif
}

// x (M, K) @ W^T through the reduced-precision matmul, for tests and timing.
Tensor lowp_matmul(const Tensor& x, int64_t kind, const Tensor& packed, int64_t n,
                   const c10::optional<Tensor>& scale, const c10::optional<Tensor>& rowsum) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat, "rnnkit native: (M, K) float32 x");
  Tensor xc = x.contiguous();
  const lowp::Weights w = lowp_weights(kind, packed, n, x.size(1), opt(scale), opt(rowsum));
  Tensor out = at::empty({x.size(0), n}, x.options());
  lowp::mm(w, xc.data_ptr<float>(), x.size(0), out.data_ptr<float>(), n, 0.f);
  return out;
}

std::vector<Tensor> backward(int64_t mode, const Tensor& x, const Tensor& w_ih,
                             const Tensor& w_hh, const c10::optional<Tensor>& w_hr,
                             bool has_bias, const Tensor& act, const c10::optional<Tensor>& aux,
                             const Tensor& h_prev_all, const c10::optional<Tensor>& c_prev_all,
                             const c10::optional<Tensor>& m_all,
                             const c10::optional<Tensor>& mask, bool reverse, const Tensor& dy,
                             const c10::optional<Tensor>& dh_n, const c10::optional<Tensor>& dc_n,
                             bool want_norms, std::vector<bool> need) {
  c10::NoGradGuard no_grad;  // the autograd Function records the graph, not these ops
  Tensor xc = x.contiguous(), wih = w_ih.contiguous(), whh = w_hh.contiguous();
  Tensor whr = opt(w_hr);
  if (whr.defined()) whr = whr.contiguous();
  Tensor dhn = opt(dh_n), dcn = opt(dc_n);
  if (dhn.defined()) dhn = dhn.contiguous();
  if (dcn.defined()) dcn = dcn.contiguous();
  Tensor mk = opt(mask);
  if (mk.defined()) mk = mk.to(at::kBool).contiguous();
  if (x.scalar_type() == at::kFloat)
    return backward_impl<float>(mode, xc, wih, whh, whr, has_bias, act, opt(aux), h_prev_all,
                                opt(c_prev_all), opt(m_all), mk, reverse, dy, dhn, dcn,
                                want_norms, need);
  return backward_impl<double>(mode, xc, wih, whh, whr, has_bias, act, opt(aux), h_prev_all,
                               opt(c_prev_all), opt(m_all), mk, reverse, dy, dhn, dcn,
                               want_norms, need);
}

// The float32 activations on a tensor, so tests can state their accuracy against libm.
Tensor fast_activations(const Tensor& x) {
  Tensor xc = x.contiguous().to(at::kFloat);
  Tensor out = at::empty({3, xc.numel()}, xc.options());
  const float* p = xc.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t n = xc.numel();
  for (int64_t k = 0; k < n; ++k) {
    o[k] = Act<float>::exp(p[k]);
    o[n + k] = Act<float>::sigmoid(p[k]);
    o[2 * n + k] = Act<float>::tanh(p[k]);
  }
  return out;
}

// The batched matmul the kernels use (panel kernel or ATen), for tests and A/B timing.
Tensor matmul(const Tensor& a, const Tensor& b, const c10::optional<Tensor>& bias) {
  c10::NoGradGuard no_grad;
  return batched_mm(a, b, opt(bias));
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnkit native BPTT kernels (one layer, one direction)";
  m.def("forward", &forward, "forward time loop");
  m.def("backward", &backward, "backward time loop and weight gradients");
  m.def("matmul", &matmul, "op(a) @ op(b) [+ bias] as the kernels compute it");
  m.def("lowp_pack", &lowp_pack, "pack int8/bfloat16 weights for the reduced-precision matmul");
  m.def("forward_lowp", &forward_lowp, "inference with int8/bfloat16 W_ih and W_hh");
  m.def("lowp_matmul", &lowp_matmul, "x @ W^T with reduced-precision W, as the kernels do");
  m.def("step_pack", &step_pack, "panels packed once per model for few-step inference");
  m.def("forward_kept", &forward_kept, "inference with panels from step_pack");
  m.def("step_kept", &step_kept, "one cell step on panels from step_pack (inference)");
  m.def("step_lowp", &step_lowp, "one cell step with int8/bfloat16 W_ih and W_hh");
  m.attr("lowp_int8_simd") = lowp::simd();  // false: int8 runs a scalar loop (no VNNI)
#ifdef RNNKIT_PANEL_MM
  m.attr("panel_kernel") = true;  // float32 matmuls on the AVX-512 panel kernel
#else
  m.attr("panel_kernel") = false;  // float32 matmuls on MKL (and the AVX2 micro-kernel)
#endif
  m.def("fast_activations", &fast_activations, "float32 exp, sigmoid, tanh as used in kernels");
  bind_settings(m);  // settings(), reload_settings()
}
