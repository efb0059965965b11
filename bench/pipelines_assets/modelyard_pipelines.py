"""Modelyard pipelines for bench/pipelines.py: a 20-step chain and a 100-step fan-out.

Steps are trivial (add an integer) so that what is timed is orchestration. Inputs are
un-annotated arguments without a default (dsl.py: those are inputs, not parameters).
"""

from __future__ import annotations

import modelyard

CHAIN_STEPS = 20
BRANCHES = 98


@modelyard.step
def source(k: int = 1) -> int:
    return k


@modelyard.step
def inc(x, k: int = 1) -> int:  # type: ignore[no-untyped-def]
    return int(x) + k


# fmt: off
@modelyard.step
def sink(  # type: ignore[no-untyped-def]
    b01, b02, b03, b04, b05, b06, b07, b08, b09, b10, b11, b12,
    b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24,
    b25, b26, b27, b28, b29, b30, b31, b32, b33, b34, b35, b36,
    b37, b38, b39, b40, b41, b42, b43, b44, b45, b46, b47, b48,
    b49, b50, b51, b52, b53, b54, b55, b56, b57, b58, b59, b60,
    b61, b62, b63, b64, b65, b66, b67, b68, b69, b70, b71, b72,
    b73, b74, b75, b76, b77, b78, b79, b80, b81, b82, b83, b84,
    b85, b86, b87, b88, b89, b90, b91, b92, b93, b94, b95, b96,
    b97, b98,
) -> int:
    # One named input per branch (a step takes no *args); all of them are summed.
    return int(sum(locals().values()))
# fmt: on


@modelyard.pipeline
def chain(k0: int = 1) -> object:
    """source -> s01 -> ... -> s19: k0 is a parameter of the first step.

    Every step adds 1, so each sees a different input. A new k0 changes every value
    only if it is far from the old one (the cache is keyed by content: with k0=2, s01
    would see 2, which s02 saw before, and hit); the benchmark uses k0=1000.
    """
    x = source(k=k0)
    for i in range(1, CHAIN_STEPS):
        x = inc.node(f"s{i:02d}")(x)
    return x


@modelyard.pipeline
def fanout(kb: int = 1) -> object:
    """source -> b01..b98 (in parallel) -> sink: kb is a parameter of branch b01 only.

    Branch i adds i (b01 adds kb), so no two steps share a cache key: the cache is keyed
    by content, and identical branches would reuse each other's outputs on a first run.
    """
    x = source(k=1)
    branches = {}
    for i in range(1, BRANCHES + 1):
        name = f"b{i:02d}"
        branches[name] = inc.node(name)(x, k=kb if i == 1 else i)
    return sink(**branches)
