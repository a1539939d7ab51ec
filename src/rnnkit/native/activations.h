// The activations of the gate loops. float32: a branch-free exp (Cody-Waite reduction and
// the Cephes degree-6 polynomial, relative error < 2e-7) that GCC vectorises with
// -march=native, and sigmoid(x) = 1/(1+exp(-x)), tanh(x) = 1 - 2/(1+exp(2x)) from it,
// absolute error below 3e-7 (tests/native). float64: libm, exact to the ulp, so float64
// gradcheck compares against the true functions. Generated custom cells use the same ones.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace {

// Always inlined: a gate loop vectorises only if no call is left in it, and GCC's inlining
// budget gave out once a generated cell's row was instantiated twice (perf: exp out of line,
// the loop scalar, inference 0.64x torch.nn).
#define RNNKIT_INLINE inline __attribute__((always_inline))

template <typename T>
struct Act;

template <>
struct Act<float> {
  static RNNKIT_INLINE float exp(float x) {
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
  static RNNKIT_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }
  static RNNKIT_INLINE float tanh(float x) { return 1.0f - 2.0f / (1.0f + exp(2.0f * x)); }
};

template <>
struct Act<double> {
  static RNNKIT_INLINE double exp(double x) { return std::exp(x); }
  static RNNKIT_INLINE double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static RNNKIT_INLINE double tanh(double x) { return std::tanh(x); }
};

// The gate loops' columns. float32 gate loops run their whole vectors of kLanes columns in
// place, then the last H % kLanes through the same code on zero-padded copies with the
// count fixed at kLanes, so that they too run as whole vectors: GCC's own epilogue ran
// them one at a time, and at H = 45 (5 exps per LSTM column, 13 left over) that scalar tail
// was half of the gate loop's time (perf). Users' H are rarely multiples of 16. float64
// (libm, not vectorised) runs all columns in place.
constexpr int64_t kLanes = 16;

template <typename T>
inline int64_t vector_cols(int64_t H) {
  return std::is_same_v<T, float> ? H - H % kLanes : H;
}

// Copies n columns of each of g gates: gate stride ss in src, ds in dst.
template <typename T>
inline void copy_gates(T* dst, int64_t ds, const T* src, int64_t ss, int64_t g, int64_t n) {
  for (int64_t k = 0; k < g; ++k) std::memcpy(dst + k * ds, src + k * ss, sizeof(T) * n);
}

}  // namespace
