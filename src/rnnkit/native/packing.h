// The recurrent weights of one call packed once for all its steps (PackedWeights: the
// AVX-512 panels of panel_gemm.h, else MKL's packed format), and the per-thread pool their
// buffers come from. Whether to pack, and on which kernel, follows settings.h.
#pragma once

#include "blas.h"
#include "panel_gemm.h"
#include "settings.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

namespace {

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
// panels of panel_gemm.h; elsewhere MKL's packed format (cblas_sgemm_pack). Row-major:
// c (B, n) = beta c + a (B, k) @ op(W), op(W) (k, n). float32 only.
struct PackedWeights {
  // Uninitialised on purpose: MKL asks for ~5.8 MB whatever the matrix (measured for a
  // 256 x 64 one), and zero-filling that per call cost ~0.5-1 ms (14% of an LSTM B=16, H=64
  // forward in perf). Untouched pages are never faulted in.
  PoolBlock buf;
  const float* shared = nullptr;  // panels packed earlier and kept by the caller (step_pack)
  int n = 0, k = 0;
  bool panels = false;
  bool active() const { return bool(buf) || shared != nullptr; }
  const float* data() const { return shared ? shared : buf.get(); }
  // RNNKIT_NATIVE_NO_PACK turns packing off (per-step sgemm instead), for A/B timing.
  static bool enabled() { return !settings().no_pack; }
  // RNNKIT_NATIVE_MKL_PACK: MKL's packed GEMM even where the panel kernel exists (A/B).
  static bool use_panels() {
#ifdef RNNKIT_PANEL_MM
    return !settings().mkl_pack;
#else
    return false;
#endif
  }
  void alloc(size_t floats) { buf = PoolBlock(floats); }
  // Whether to pack a (rows x cols) matrix for a time loop of ``steps`` steps. Packing is two
  // passes over the weights; past L2 (1 MB) and at few steps, MKL's unpacked GEMM is quicker
  // (panel builds, idle Zen 4, one thread, H = 1024, B = 1-16: T = 1-4 took 0.26-0.88x of
  // the packed time in most cases, T >= 50 1.3-2.5x). AVX2 builds always pack, as measured
  // there. RNNKIT_NATIVE_PACK_MIN_STEPS overrides the 8 steps (A/B timing). Fewer steps of
  // kPackMinRows rows or more in all pay too: MKL's generic kernels on AMD lose more per
  // row than the packing pass costs (idle Zen 4, one thread, H = 755-1024, T = 4: packed
  // took 0.79-0.96x of the unpacked inference time at B = 32-300, 0.96-1.07x at B = 8-16).
  static constexpr int64_t kPackMinRows = 128;
  static bool pays(int64_t steps, int64_t batch, int64_t rows, int64_t cols) {
    if (!enabled()) return false;
    if (!use_panels() || rows * cols * int64_t(sizeof(float)) <= (int64_t(1) << 20)) return true;
    return steps >= settings().pack_min_steps || steps * batch >= kPackMinRows;
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
    alloc(cat_floats(k1, k2, rows));
    pack_cat_into(buf.get(), w1, k1, w2, k2, bias, rows);
  }
  // The same into memory the caller keeps (step_pack: packed once per model, not per call).
  static size_t cat_floats(int k1, int k2, int rows) {
    return size_t((rows + panel::NR - 1) / panel::NR) * (k1 + k2 + 1) * panel::NR;
  }
  static void pack_cat_into(float* d, const float* w1, int k1, const float* w2, int k2,
                            const float* bias, int rows) {
    const int k = k1 + k2 + 1, np = (rows + panel::NR - 1) / panel::NR;
    panel::pack_w(w1, k1, true, 0, k1, rows, d, k);
    panel::pack_w(w2, k2, true, 0, k2, rows, d + size_t(k1) * panel::NR, k);
    for (int p = 0; p < np; ++p) {
      float* last = d + (size_t(p) * k + k - 1) * panel::NR;
      for (int j = 0; j < panel::NR; ++j) {
        const int r = p * panel::NR + j;
        last[j] = r < rows && bias ? bias[r] : 0.f;
      }
    }
  }
  // Use panels packed by pack_cat_into (op(W) k x n) without copying them.
  void use(const float* panels_data, int n_, int k_) {
    shared = panels_data;
    n = n_;
    k = k_;
    panels = true;
  }
#endif
  // beta is 0 or 1 at every call site (overwrite or accumulate).
  void mm(const float* a, float* c, int B, float beta) const {
#ifdef RNNKIT_PANEL_MM
    if (panels) return panel_mm(a, k, k, c, B, beta != 0.f, false);
#endif
    cblas_sgemm_compute(101, 111, 151, B, n, k, a, k, buf.get(), n, beta, c, n);
  }
#ifdef RNNKIT_PANEL_MM
  // c (B, n) = a (B, k - 1; row stride lda) @ op(W)[:k - 1] + op(W)[k - 1], for panels
  // packed from [W, b]^T (step_pack's input weights): the bias row added in the GEMM, where
  // a copy of the input with a column of ones was one more pass (2% of an LSTM T = 7,
  // B = 361, H = 235 inference in perf).
  void mm_bias_row(const float* a, int lda, float* c, int B) const {
    panel_mm(a, lda, k - 1, c, B, false, true);
  }
  // Each panel streams once per step and is reused by every row tile; split across threads
  // by panels from settings().panel_threaded_macs multiply-adds (below). The sum runs over
  // the first kc rows of op(W); with bias_row, row kc is added as a bias.
  void panel_mm(const float* a, int lda, int kc, float* c, int B, bool acc_in,
                bool bias_row) const;
#endif
};

// Whether this call's float32 matmuls run on the panel kernel (an AVX-512 build with neither
// A/B switch set).
inline bool panels_on() { return PackedWeights::enabled() && PackedWeights::use_panels(); }

#ifdef RNNKIT_PANEL_MM
// Per-step panel GEMMs from settings().panel_threaded_macs multiply-adds up split their
// panels across threads: 2^17 by default, not MKL's 2^20. Two threads, B = 1-4 at H = 256
// (between the two bars): 0.74-0.86x of the time at 2^20 in 14 of 16 A/B pairs
// (benchmarks/probes/env_ab.py, idle Zen 4). RNNKIT_NATIVE_PANEL_THREADED_MACS overrides it.
inline void PackedWeights::panel_mm(const float* a, int lda, int kc, float* c, int B,
                                    bool acc_in, bool bias_row) const {
  if (B == 0) return;
  const panel::Tiles tl(B);
  const float* ap = nullptr;
  if (panel::needs_packing(lda)) {
    thread_local std::vector<float> a_packed;  // one step's input: B x kc floats, reused
    a_packed.resize(size_t(tl.count) * kc * panel::MR);
    panel::pack_a(tl, a, lda, 0, kc, a_packed.data());
    ap = a_packed.data();
  }
  // k <= 4H here: one block, and each panel's stride is k rows.
  const size_t stride = size_t(k) * panel::NR;
  panel::run_block(tl, n, kc, ap, a, lda, data(), stride, c, n, acc_in,
                   int64_t(B) * n * kc >= settings().panel_threaded_macs,
                   bias_row ? data() + size_t(kc) * panel::NR : nullptr, stride);
}
#endif

}  // namespace
