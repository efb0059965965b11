"""The walk: breadth first from the start node, up the links, down them, or both.

"Both" is the union of the two walks from the start, not everything connected to it: the
other outputs of an upstream step are not this model's lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from modelyard.lineage import links
from modelyard.lineage.links import Key, Link
from modelyard.lineage.models import Direction

Step = Callable[[Connection, Iterable[Key]], list[Link]]


@dataclass
class Walk:
    distances: dict[Key, int]
    links: set[Link] = field(default_factory=set)
    truncated: bool = False


def _walk_one_way(
    conn: Connection, walk: Walk, start: Key, step: Step, up: bool, depth: int, max_nodes: int
) -> None:
    frontier = {start}
    for level in range(1, depth + 1):
        if not frontier:
            return
        reached: set[Key] = set()
        for link in step(conn, frontier):
            other = link.src if up else link.dst
            if other not in walk.distances:
                if len(walk.distances) >= max_nodes:
                    walk.truncated = True
                    continue
                walk.distances[other] = level
                reached.add(other)
            walk.links.add(link)
        frontier = reached


def walk(conn: Connection, start: Key, direction: Direction, depth: int, max_nodes: int) -> Walk:
    """The nodes within ``depth`` hops of ``start`` (at most ``max_nodes``) and their links."""
    result = Walk(distances={start: 0})
    if direction in (Direction.upstream, Direction.both):
        _walk_one_way(conn, result, start, links.upstream, True, depth, max_nodes)
    if direction in (Direction.downstream, Direction.both):
        _walk_one_way(conn, result, start, links.downstream, False, depth, max_nodes)
    # A link is shown only between nodes the budget kept.
    result.links = {
        link
        for link in result.links
        if link.src in result.distances and link.dst in result.distances
    }
    return result
