// The threading rules: which loops may fork, and from what size. On a 2-core machine shared
// with other jobs a fork/join costs microseconds when idle and a scheduler time slice when
// the other core is busy (docs/PERFORMANCE.md, section 1, item 6), so small work stays on
// one thread: the gate loops below ~32K elements, per-step GEMMs below 2^20 multiply-adds
// (the panel kernel's own bar is in packing.h), the batched matmuls below 2^23. A batch is
// split into one time loop per thread only on panel builds.
#pragma once

#include "blas.h"
#include "packing.h"
#include "settings.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

namespace {

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

// Runs f(r0, r1), a whole time loop for batch rows [r0, r1): split into one chunk per
// thread when there are several threads and >= 8 rows (at least 4 per chunk), else once.
// Panel builds only: MKL's packed weights are packed for one row count.
// RNNKIT_NATIVE_NO_BATCH_SPLIT keeps one chunk (A/B timing).
template <typename F>
inline void batch_chunks(int64_t B, const F& f) {
  if (B >= 8 && at::get_num_threads() > 1 && !at::in_parallel_region() && panels_on() &&
      !settings().no_batch_split) {
    at::parallel_for(0, B, 4, f);
  } else {
    f(0, B);
  }
}

}  // namespace
