"""C++ for a user's GatedCell: its element-wise step and that step's derivative.

``cell_source(cell)`` writes a translation unit with a ``struct Cell`` (the forward row loop
from the traced expression graph, and the backward row loop by reverse-mode
differentiation of the same graph), bound to the generic time loops of ``custom_loop.h``.
``load_cell(cell)`` compiles it once per distinct source (cached like the built-in kernels)
and returns the module, or None with ``cell_unavailable_reason`` saying why.
"""

from __future__ import annotations

import hashlib
import weakref

from rnnkit import native
from rnnkit.core.gated_cell import GatedCell, Graph

_modules: dict[str, object] = {}
_reasons: dict[str, str] = {}
_keys: weakref.WeakKeyDictionary[GatedCell, str] = weakref.WeakKeyDictionary()

_FORWARD = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "sigmoid": "A::sigmoid({0})",
    "tanh": "A::tanh({0})",
    "exp": "A::exp({0})",
    "relu": "({0} > T(0) ? {0} : T(0))",
}


def _leaf_of(graph: Graph) -> dict[int, str]:
    """Node id -> the load that gives its value, for the nodes that are inputs of the row."""
    loads = {}
    fused_adds = _fused_adds(graph)
    for i, n in enumerate(graph.nodes):
        if n.op == "state":
            loads[i] = f"p{n.index}[j]"
        elif not graph.fused and n.op == "x":
            loads[i] = f"x{n.index}[j]"
        elif not graph.fused and n.op == "h":
            loads[i] = f"r{n.index}[j]"
    for i, k in fused_adds.items():
        loads[i] = f"x{k}[j]"  # FUSED: X[k] holds x.k + h.k
    return loads


def _fused_adds(graph: Graph) -> dict[int, int]:
    """FUSED graphs: the node id of each x.k + h.k, mapped to k."""
    if not graph.fused:
        return {}
    out = {}
    for i, n in enumerate(graph.nodes):
        if n.op == "add":
            a, b = (graph.nodes[j] for j in n.args)
            if {a.op, b.op} == {"x", "h"} and a.index == b.index:
                out[i] = a.index
    return out


def _needed(graph: Graph, loads: dict[int, str]) -> list[int]:
    """Ids of the nodes the outputs depend on, in topological order (loads are leaves)."""
    seen: set[int] = set()
    stack = list(graph.outputs)
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        if i not in loads:
            stack.extend(graph.nodes[i].args)
    return sorted(seen)


def _value(graph: Graph, i: int, loads: dict[int, str]) -> str:
    n = graph.nodes[i]
    if i in loads:
        return loads[i]
    if n.op == "const":
        return f"T({n.value!r})"
    return _FORWARD[n.op].format(*(f"v{a}" for a in n.args))


def _forward_lines(graph: Graph, loads: dict[int, str]) -> list[str]:
    return [f"const T v{i} = {_value(graph, i, loads)};" for i in _needed(graph, loads)]


def _backward_lines(graph: Graph, loads: dict[int, str]) -> list[str]:
    """Adjoint g<i> = dL/d v<i>, accumulated from the outputs back to the loads."""
    lines, declared = [], set()

    def add(target: int, expr: str) -> None:
        if graph.nodes[target].op == "const":
            return
        if target in declared:
            lines.append(f"g{target} += {expr};")
        else:
            declared.add(target)
            lines.append(f"T g{target} = {expr};")

    for s, out in enumerate(graph.outputs):
        add(out, f"dn{s}[j]")
    for i in reversed(_needed(graph, loads)):
        if i in loads or i not in declared:
            continue
        n, g = graph.nodes[i], f"g{i}"
        a = n.args
        if n.op == "add":
            add(a[0], g)
            add(a[1], g)
        elif n.op == "sub":
            add(a[0], g)
            add(a[1], f"-{g}")
        elif n.op == "mul":
            add(a[0], f"{g} * v{a[1]}")
            add(a[1], f"{g} * v{a[0]}")
        elif n.op == "div":
            add(a[0], f"{g} / v{a[1]}")
            add(a[1], f"-{g} * v{i} / v{a[1]}")
        elif n.op == "sigmoid":
            add(a[0], f"{g} * v{i} * (T(1) - v{i})")
        elif n.op == "tanh":
            add(a[0], f"{g} * (T(1) - v{i} * v{i})")
        elif n.op == "exp":
            add(a[0], f"{g} * v{i}")
        elif n.op == "relu":
            add(a[0], f"(v{a[0]} > T(0) ? {g} : T(0))")
        else:  # pragma: no cover - Symbol records no other op
            raise AssertionError(n.op)
    # Write each input's adjoint (zero where the step does not use it).
    fused_adds = {k: i for i, k in _fused_adds(graph).items()}
    by_load = {}
    for i, n in enumerate(graph.nodes):
        if n.op == "state":
            by_load[f"dp{n.index}[j]"] = i
        elif not graph.fused and n.op == "x":
            by_load[f"dx{n.index}[j]"] = i
        elif not graph.fused and n.op == "h":
            by_load[f"dr{n.index}[j]"] = i
    for k, i in fused_adds.items():
        by_load[f"dx{k}[j]"] = i
    for target, i in sorted(by_load.items()):
        lines.append(f"{target} = {f'g{i}' if i in declared else 'T(0)'};")
    return lines


def cell_source(cell: GatedCell) -> str:
    """The complete C++ translation unit for ``cell``."""
    graph = cell.graph
    G, S = len(cell.gates), len(cell.states)
    loads = _leaf_of(graph)
    fused = "true" if graph.fused else "false"

    def ptrs(fmt: str, src: str, n: int, const: bool) -> list[str]:
        q = "const T* __restrict" if const else "T* __restrict"
        return [f"{q} {fmt.format(k)} = {src}[{k}];" for k in range(n)]

    inputs = ptrs("x{}", "X", G, True) + ([] if graph.fused else ptrs("r{}", "R", G, True))
    inputs += ptrs("p{}", "P", S, True)
    fwd = inputs + ptrs("n{}", "N", S, False)
    bwd = inputs + ptrs("dn{}", "DN", S, True) + ptrs("dx{}", "DX", G, False)
    bwd += ([] if graph.fused else ptrs("dr{}", "DR", G, False)) + ptrs("dp{}", "DP", S, False)
    f_body = _forward_lines(graph, loads) + [
        f"n{s}[j] = v{out};" for s, out in enumerate(graph.outputs)
    ]
    b_body = _forward_lines(graph, loads) + _backward_lines(graph, loads)

    def block(lines: list[str], indent: int) -> str:
        return "\n".join(" " * indent + ln for ln in lines)

    return f"""// Generated by rnnkit/native/codegen.py for {cell!r}. Do not edit.
#include "custom_loop.h"

namespace {{

struct Cell {{
  static constexpr int G = {G}, S = {S};
  static constexpr bool FUSED = {fused};

  // Columns [0, H); Nc > 0 fixes their count at compile time (custom_loop.h's padded tail).
  template <typename T, int64_t Nc = 0>
  static inline void forward_row(const T* const* X, const T* const* R, const T* const* P,
                                 T* const* N, int64_t H) {{
    using A = Act<T>;
    (void)R;
{block(fwd, 4)}
    const int64_t m = Nc > 0 ? Nc : H;
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) {{
{block(f_body, 6)}
    }}
  }}

  template <typename T>
  static inline void backward_row(const T* const* X, const T* const* R, const T* const* P,
                                  const T* const* DN, T* const* DX, T* const* DR,
                                  T* const* DP, int64_t H) {{
    using A = Act<T>;
    (void)R;
    (void)DR;
{block(bwd, 4)}
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {{
{block(b_body, 6)}
    }}
  }}
}};

}}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {{
  m.doc() = "rnnkit custom cell {cell.name}";
  m.def("forward", &custom_forward<Cell>, "forward time loop");
  m.def("backward", &custom_backward<Cell>, "backward time loop and weight gradients");
  bind_settings(m);  // settings(), reload_settings(): rnnkit.native.reload_settings() reaches it
}}
"""


def _key(cell: GatedCell) -> str:
    """The build key of ``cell``'s source, computed once per cell object: this runs on every
    forward call, and writing the source costs more than a small step."""
    key = _keys.get(cell)
    if key is None:
        key = hashlib.sha256(cell_source(cell).encode() + native.build_key().encode()).hexdigest()
        key = _keys[cell] = key[:16]
    return key


def load_cell(cell: GatedCell):
    """The compiled module for ``cell`` (built once per distinct source), or None."""
    key = _key(cell)
    if key in _modules or key in _reasons:
        return _modules.get(key)
    module, reason = native.build_extension(f"rnnkit_cell_{key}", cell_source(cell), key)
    if module is None:
        _reasons[key] = reason
    else:
        _modules[key] = module
    return module


def cell_unavailable_reason(cell: GatedCell) -> str | None:
    """Why ``cell`` cannot run natively here (building it if not yet tried), or None."""
    if native.unavailable_reason() is not None:
        return native.unavailable_reason()
    load_cell(cell)
    return _reasons.get(_key(cell))
