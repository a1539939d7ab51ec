// The native kernels' switches: read from the environment once, on first use, into one
// Settings struct. They were read with getenv on every call (and per step for one of them);
// now a process that changes its environment between calls (benchmarks/probes/env_ab.py
// times both sides of a switch in one process) calls reload_settings() afterwards:
// rnnkit.native.reload_settings() in Python, which reloads every loaded extension (the
// built-in kernels and each custom cell's module keep their own copy). Not while a kernel
// call is running in another thread.
//
// Every switch is for A/B timing; none changes results beyond float32 rounding. The
// defaults were measured; why each is what it is stands where it is used.
//
// RNNKIT_NATIVE_...     field                default  effect (read in)
// NO_PACK               no_pack              unset    set: no packed weights, every per-step
//                                                     GEMM a plain sgemm, the panel kernel off
//                                                     (PackedWeights::enabled)
// MKL_PACK              mkl_pack             unset    set: MKL's packed GEMM and the AVX2
//                                                     micro-kernel even where the AVX-512 panel
//                                                     kernel exists (PackedWeights::use_panels)
// PACK_MIN_STEPS        pack_min_steps       8        panel builds: weights over 1 MB are packed
//                                                     only for at least this many steps, or
//                                                     128 rows over all steps
//                                                     (PackedWeights::pays)
// SMALL_MM_MAX_B        small_mm_max_b       8        AVX2 builds: the largest batch on the
//                                                     micro-kernel at width <= 64; B <= 2 always
//                                                     runs on it (use_small_mm)
// PANEL_THREADED_MACS   panel_threaded_macs  2^17     per-step panel GEMMs from this many
//                                                     multiply-adds split their panels across
//                                                     threads (PackedWeights::panel_mm)
// NO_FUSE               no_fuse              unset    set: LSTM inference at B >= 16 keeps its
//                                                     batched input projection (fuse_input_step)
// NO_BATCH_SPLIT        no_batch_split       unset    set: one time loop over the whole batch,
//                                                     not one per thread (batch_chunks)
// NO_WGRAD_SWAP         no_wgrad_swap        unset    set: narrow weight gradients as
//                                                     d^T @ x, not (x^T @ d)^T (batched_mm)
//
// A flag counts as set when the variable exists, whatever its value ("0" and "" included),
// as it always has. A number must be a whole decimal number >= 0; anything else raises a
// RuntimeError naming the variable when the settings are read (the first kernel call, or
// reload_settings()), and a failed reload keeps the settings in force.
#pragma once

#include <c10/util/Exception.h>
#include <torch/csrc/utils/pybind.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace {

struct Settings {
  bool no_pack = false;
  bool mkl_pack = false;
  int64_t pack_min_steps = 8;
  int64_t small_mm_max_b = 8;
  int64_t panel_threaded_macs = int64_t(1) << 17;
  bool no_fuse = false;
  bool no_batch_split = false;
  bool no_wgrad_swap = false;

  static bool flag(const char* name) { return std::getenv(name) != nullptr; }

  static int64_t count(const char* name, int64_t fallback) {
    const char* text = std::getenv(name);
    if (!text) return fallback;
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text, &end, 10);
    TORCH_CHECK(end != text && *end == '\0' && errno == 0 && value >= 0, "rnnkit native: ",
                name, "='", text, "' is not a whole number >= 0 (unset it for the default, ",
                fallback, ")");
    return value;
  }

  static Settings from_env() {
    Settings s;
    s.no_pack = flag("RNNKIT_NATIVE_NO_PACK");
    s.mkl_pack = flag("RNNKIT_NATIVE_MKL_PACK");
    s.pack_min_steps = count("RNNKIT_NATIVE_PACK_MIN_STEPS", s.pack_min_steps);
    s.small_mm_max_b = count("RNNKIT_NATIVE_SMALL_MM_MAX_B", s.small_mm_max_b);
    s.panel_threaded_macs = count("RNNKIT_NATIVE_PANEL_THREADED_MACS", s.panel_threaded_macs);
    s.no_fuse = flag("RNNKIT_NATIVE_NO_FUSE");
    s.no_batch_split = flag("RNNKIT_NATIVE_NO_BATCH_SPLIT");
    s.no_wgrad_swap = flag("RNNKIT_NATIVE_NO_WGRAD_SWAP");
    return s;
  }
};

// One copy per extension module (each is its own translation unit), read on first use.
inline Settings& settings_storage() {
  static Settings s = Settings::from_env();
  return s;
}

inline const Settings& settings() { return settings_storage(); }

// Re-reads the environment; on an invalid value raises and keeps the settings in force (the
// right-hand side is evaluated before the assignment).
inline void reload_settings() { settings_storage() = Settings::from_env(); }

inline pybind11::dict settings_dict(const Settings& s) {
  pybind11::dict d;
  d["no_pack"] = s.no_pack;
  d["mkl_pack"] = s.mkl_pack;
  d["pack_min_steps"] = s.pack_min_steps;
  d["small_mm_max_b"] = s.small_mm_max_b;
  d["panel_threaded_macs"] = s.panel_threaded_macs;
  d["no_fuse"] = s.no_fuse;
  d["no_batch_split"] = s.no_batch_split;
  d["no_wgrad_swap"] = s.no_wgrad_swap;
  return d;
}

// settings() and reload_settings() for Python, on every extension module (built-in and
// generated), so that rnnkit.native.reload_settings() can reach them all.
inline void bind_settings(pybind11::module& m) {
  m.def("settings", [] { return settings_dict(settings()); }, "the switches in force");
  m.def(
      "reload_settings",
      [] {
        reload_settings();
        return settings_dict(settings());
      },
      "re-read the RNNKIT_NATIVE_* switches from the environment; returns them");
}

}  // namespace
