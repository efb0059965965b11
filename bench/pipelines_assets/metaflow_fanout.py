"""Metaflow fan-out for bench/pipelines.py: start -> 98 branches (foreach) -> join -> end.

That is 101 tasks, one more than the other tools' 100 steps: a Metaflow flow must end
with an ``end`` step after the join. ``kb`` is a parameter of the first branch only.

    python metaflow_fanout.py --no-pylint run [--kb N]
"""

from metaflow import FlowSpec, Parameter, step

BRANCHES = 98


class FanoutFlow(FlowSpec):
    kb = Parameter("kb", default=1, type=int)

    @step
    def start(self):  # type: ignore[no-untyped-def]
        self.x = 1
        self.branches = list(range(1, BRANCHES + 1))
        self.next(self.branch, foreach="branches")

    @step
    def branch(self):  # type: ignore[no-untyped-def]
        k = self.kb if self.input == 1 else self.input
        self.y = self.x + k
        self.next(self.join)

    @step
    def join(self, inputs):  # type: ignore[no-untyped-def]
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):  # type: ignore[no-untyped-def]
        print("total =", self.total)


if __name__ == "__main__":
    FanoutFlow()
