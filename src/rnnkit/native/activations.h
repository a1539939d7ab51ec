// The activations of the gate loops. float32: a branch-free exp (Cody-Waite reduction and
// the Cephes degree-6 polynomial, relative error < 2e-7) that GCC vectorises with
// -march=native, and sigmoid(x) = 1/(1+exp(-x)), tanh(x) = 1 - 2/(1+exp(2x)) from it,
// absolute error below 3e-7 (tests/native). float64: libm, exact to the ulp, so float64
// gradcheck compares against the true functions. Generated custom cells use the same ones.
#pragma once

#include <cmath>

namespace {

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

}  // namespace
