// What the kernels' entry points need from ATen and pybind11: Tensor, raw pointers into
// tensors that may be undefined, and optional arguments as possibly undefined tensors.
// (<ATen/ATen.h> + pybind.h, not <torch/extension.h>: the slimmer includes cut the first
// build from 76 s to 44 s, docs/PERFORMANCE.md section 5.)
#pragma once

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/utils/pybind.h>

#include <optional>

using at::Tensor;

namespace {

template <typename T>
inline T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

inline Tensor opt(const c10::optional<Tensor>& t) { return t.has_value() ? *t : Tensor(); }

}  // namespace
