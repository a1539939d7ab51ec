// The BLAS entry points the kernels call directly: Fortran sgemm_/dgemm_, MKL's packed GEMM
// and MKL's per-thread thread count, all exported by the MKL inside libtorch_cpu (no link
// line of our own), plus row-major wrappers for the two matmuls of a step. Calling sgemm_
// straight, not at::mm, is what keeps a step free of tensors and dispatch (rnn_kernels.cpp).
#pragma once

#include <cstddef>

extern "C" {
// Fortran BLAS (LP64), as exported by the MKL inside libtorch_cpu.
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*);
// MKL's packed GEMM (CBLAS enums: 101 row-major, 111/112 no-trans/trans, 151 packed,
// 162 the B matrix): the recurrent weights are packed once per call instead of once per step.
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha,
                      const float* src, int ld, float* dest);
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a,
                         int lda, const float* b, int ldb, float beta, float* c, int ldc);
// MKL's bfloat16 GEMM with float32 accumulation and output (MKL_BF16 is uint16_t); the
// reduced-precision path of lowp.h.
void cblas_gemm_bf16bf16f32(int layout, int transa, int transb, int m, int n, int k,
                            float alpha, const unsigned short* a, int lda,
                            const unsigned short* b, int ldb, float beta, float* c, int ldc);
// MKL's thread count for the calling thread; returns the previous one (0: the global one).
// libtorch_cpu exports only the Fortran-style entry, which takes its argument by pointer.
int mkl_set_num_threads_local_(const int*);
}

namespace {

inline void gemm(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  sgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  if (m == 0 || n == 0) return;
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

// C (B, N) = beta C + X (B, K) @ W^T, with W (N, K): the recurrent matmul of a step.
template <typename T>
inline void mm_xwt(const T* x, const T* w, T* c, int B, int N, int K, T beta) {
  gemm('T', 'N', N, B, K, T(1), w, K, x, K, beta, c, N);
}
// C (B, K) = beta C + D (B, N) @ W, with W (N, K): the gradient through that matmul.
template <typename T>
inline void mm_dw(const T* d, const T* w, T* c, int B, int N, int K, T beta) {
  gemm('N', 'N', K, B, N, T(1), w, K, d, N, beta, c, K);
}

}  // namespace
