"""Compiles the Triton kernels ahead of time for an NVIDIA target, no GPU needed (Triton's
own ptxas): catches what the interpreter cannot, code that does not lower to the GPU.
Run by tests/test_triton_backend.py in a process without TRITON_INTERPRET.
Usage: python tests/triton_aot.py [SM, e.g. 90]"""

from __future__ import annotations

import inspect
import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from rnnkit.backends import triton_kernels as kernels


def signature(fn, constexprs: dict) -> dict:
    types = {}
    for name in inspect.signature(fn.fn).parameters:
        if name in constexprs:
            types[name] = "constexpr"
        elif name == "mask_ptr":
            types[name] = "*i8"
        else:
            types[name] = "*fp32" if name.endswith("_ptr") else "i32"
    return types


def main() -> None:
    target = GPUTarget("cuda", int(sys.argv[1]) if len(sys.argv) > 1 else 90, 32)
    block_b, block_h, block_k = kernels.block_sizes(40, 70)
    for fn, extra in ((kernels.forward_kernel, {"SAVE": True}),
                      (kernels.backward_kernel, {"NORMS": True})):  # fmt: skip
        for mode, gates in ((0, 1), (2, 4), (3, 3)):
            constexprs = {"MODE": mode, "G": gates, "REVERSE": True, "HAS_MASK": True,
                          "BLOCK_B": block_b, "BLOCK_H": block_h, "BLOCK_K": block_k,
                          "PRECISION": "ieee", **extra}  # fmt: skip
            src = ASTSource(fn=fn, signature=signature(fn, constexprs), constexprs=constexprs)
            compiled = triton.compile(src, target=target)
            assert compiled.asm["cubin"], "no cubin"
            print(f"{fn.fn.__name__} mode {mode}: sm_{target.arch} cubin "
                  f"{len(compiled.asm['cubin'])} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
