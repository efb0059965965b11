"""Metaflow chain for bench/pipelines.py: 20 linear steps (start, s01..s18, end).

Each step adds one to ``x``; ``k0`` is a parameter of the first step. Metaflow reads a
flow's graph from its source, so the steps are written out. It has no step cache: every
run executes every step (``resume`` only re-runs after a failure).

    python metaflow_chain.py --no-pylint run [--k0 N]
"""

from metaflow import FlowSpec, Parameter, step


class ChainFlow(FlowSpec):
    k0 = Parameter("k0", default=1, type=int)

    @step
    def start(self):  # type: ignore[no-untyped-def]
        self.x = self.k0
        self.next(self.s01)

    @step
    def s01(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s02)

    @step
    def s02(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s03)

    @step
    def s03(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s04)

    @step
    def s04(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s05)

    @step
    def s05(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s06)

    @step
    def s06(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s07)

    @step
    def s07(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s08)

    @step
    def s08(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s09)

    @step
    def s09(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s10)

    @step
    def s10(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s11)

    @step
    def s11(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s12)

    @step
    def s12(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s13)

    @step
    def s13(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s14)

    @step
    def s14(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s15)

    @step
    def s15(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s16)

    @step
    def s16(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s17)

    @step
    def s17(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.s18)

    @step
    def s18(self):  # type: ignore[no-untyped-def]
        self.x += 1
        self.next(self.end)

    @step
    def end(self):  # type: ignore[no-untyped-def]
        self.x += 1
        print("x =", self.x)


if __name__ == "__main__":
    ChainFlow()
