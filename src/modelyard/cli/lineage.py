"""``modelyard lineage``: the lineage of a model, run, step, dataset or endpoint as a tree,
and ``modelyard lineage export`` of the run history as OpenLineage events."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from modelyard.cli.connection import open_client
from modelyard.cli.options import bounded, default
from modelyard.cli.output import fail, format_time, parse_time, print_json, user_errors
from modelyard.lineage import limits

if TYPE_CHECKING:
    from modelyard.lineage.models import LineageGraph, LineageNode


class _ShowByDefault(TyperGroup):
    """``modelyard lineage URI`` means ``modelyard lineage show URI``: a URI is not a
    sub-command, so anything but ``export`` (or help) is handed to ``show``."""

    # ``ctx`` is the Click context Typer vendors (``typer._click``), a private name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Lineage from datasets through runs and steps to versions, deployments and "
    "endpoints: modelyard lineage URI [--upstream|--downstream]; modelyard lineage export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _children(graph: LineageGraph, up: bool) -> dict[str, list[tuple[str, str]]]:
    """For each node, the (role, node) pairs one hop further from the start."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for edge in graph.edges:
        if up:
            found[edge.dst].append((edge.role, edge.src))
        else:
            found[edge.src].append((edge.role, edge.dst))
    return found


def _line(node: LineageNode, role: str | None) -> str:
    parts = [f"{node.kind.value} {node.label}"]
    if node.status:
        parts.append(node.status)
    if "content_hash" in node.attributes:
        parts.append(f"sha256 {str(node.attributes['content_hash'])[:16]}")
    if node.created_at:
        parts.append(format_time(node.created_at))
    text = "  ".join(parts)
    return f"[{role}] {text}  ({node.uri})" if role else f"{text}  ({node.uri})"


def _branch(tree: Any, graph: LineageGraph, up: bool) -> None:
    from rich.text import Text  # plain text: a label's "[role]" is not Rich markup

    by_id = {n.id: n for n in graph.nodes}
    children = _children(graph, up)
    shown: set[str] = set()

    def grow(parent: Any, node_id: str) -> None:
        for role, child in sorted(children.get(node_id, [])):
            node = by_id[child]
            # Only nodes further from the start hang below: the walk reached them from here.
            if node.distance <= by_id[node_id].distance:
                continue
            if child in shown:
                parent.add(Text(f"{_line(node, role)}  (shown above)"))
                continue
            shown.add(child)
            grow(parent.add(Text(_line(node, role))), child)

    grow(tree, graph.root)


def print_tree(graph: LineageGraph) -> None:
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    root = next(n for n in graph.nodes if n.id == graph.root)
    tree = Tree(Text(_line(root, None)))
    directions = [d for d in ("upstream", "downstream") if graph.direction.value in (d, "both")]
    for direction in directions:
        up = direction == "upstream"
        if graph.direction.value == "both":
            _branch(tree.add(direction), graph, up)
        else:
            _branch(tree, graph, up)
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(tree)
    if graph.truncated:
        typer.echo(f"(cut at {len(graph.nodes)} nodes: raise --max-nodes to see more)")


@app.command("show")
def show(
    uri: Annotated[
        str,
        typer.Argument(
            help="models:/NAME/VERSION (or @ALIAS), runs:/RUN_ID, pipelines:/RUN_ID[/STEP], "
            "datasets:/DIGEST, artifacts:/SHA256, endpoints:/NAME[/DEPLOYMENT]."
        ),
    ],
    upstream: Annotated[bool, typer.Option("--upstream", help="Only where it came from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only where it went.")] = False,
    depth: Annotated[int, bounded(limits.DEPTH, "Hops from URI", "--depth", whole=True)] = default(
        limits.DEPTH, whole=True
    ),
    max_nodes: Annotated[
        int, bounded(limits.MAX_NODES, "Most nodes shown", "--max-nodes", whole=True)
    ] = default(limits.MAX_NODES, whole=True),
    as_json: Annotated[bool, typer.Option("--json", help="Print the graph as JSON.")] = False,
) -> None:
    """Show the lineage of URI as a tree (both ways unless --upstream or --downstream)."""
    if upstream and downstream:
        fail("give --upstream or --downstream, not both (neither shows both ways)")
    direction = "upstream" if upstream else "downstream" if downstream else "both"
    with user_errors():
        graph = open_client().lineage(uri, direction=direction, depth=depth, max_nodes=max_nodes)
        if as_json:
            print_json(graph)
            return
        print_tree(graph)


@app.command("export")
def export(
    since: Annotated[
        str | None, typer.Option(help="Runs started at or after this (ISO time or epoch ms).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Runs started before this (ISO time or epoch ms).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="OpenLineage namespace (default: MODELYARD_OPENLINEAGE_NAMESPACE)."),
    ] = None,
) -> None:
    """Write runs, pipeline runs and step runs as OpenLineage run events, one JSON per line."""
    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    with user_errors():
        events = open_client().lineage.events(since=start, until=end, namespace=namespace)
        count = 0
        out = sys.stdout if output is None else output.open("w", encoding="utf-8")
        try:
            for event in events:
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
                count += 1
        finally:
            if output is not None:
                out.close()
        if output is not None:
            typer.echo(f"wrote {count} events to {output}")
