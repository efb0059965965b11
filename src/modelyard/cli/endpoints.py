"""``modelyard endpoint | deployment | rollout | supervisor``: online serving."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.endpoint_history import show_history
from modelyard.cli.options import JsonOption, ReasonOption, bounded, default
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    parse_duration_ms,
    parse_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)
from modelyard.errors import InvalidInput
from modelyard.serving import limits

if TYPE_CHECKING:
    from modelyard.serving.models import Endpoint, LiveEndpoint, Rollout

endpoint_app = command_group("Endpoints: stable addresses that split traffic between deployments.")
deployment_app = command_group("Deployments: model versions run by scoring workers.")
rollout_app = command_group("Rollouts: move traffic step by step, roll back on bad health.")


def _split(text: str) -> tuple[str, str]:
    endpoint, sep, name = text.partition("/")
    if not sep or not endpoint or not name:
        fail(f"'{text}': name a deployment as ENDPOINT/DEPLOYMENT, e.g. churn/blue")
    return endpoint, name


def _shares(split: dict[str, int]) -> str:
    return " ".join(f"{n}={s}" for n, s in sorted(split.items()) if s) or "none"


def _show_endpoint(endpoint: Endpoint, live: LiveEndpoint) -> None:
    print_mapping(
        f"Endpoint {endpoint.name}",
        {
            "url": f"http://127.0.0.1:{endpoint.port}/invocations",
            "traffic": _shares(endpoint.traffic),
            "mirror": _shares(endpoint.mirror),
            "supervised": f"yes (pid {live.supervisor_pid})"
            if live.supervised
            else f"no ({live.reason})",
            **({"router": f"not listening: {live.router_error}"} if live.router_error else {}),
            "created": f"{format_time(endpoint.created_at)} by {endpoint.created_by}",
            "description": endpoint.description,
        },
    )
    print_table(
        "Deployments",
        ["name", "model", "workers", "traffic", "mirror", "state", "restarts"],
        endpoint.deployments,
        lambda d: [
            d.name,
            d.version_uri,
            d.workers,
            f"{endpoint.traffic.get(d.name, 0)}%",
            f"{endpoint.mirror.get(d.name, 0)}%" if endpoint.mirror.get(d.name) else "",
            live.deployments[d.name].state,
            live.deployments[d.name].restarts if live.supervised else "-",
        ],
    )
    if endpoint.rollout is not None:
        _show_rollout(endpoint.rollout)


def _show_rollout(rollout: Rollout) -> None:
    print_mapping(
        f"Rollout to {rollout.target}",
        {
            "state": rollout.state.value,
            "steps": ", ".join(
                f"[{s}%]" if i == rollout.step_index and rollout.state.active else f"{s}%"
                for i, s in enumerate(rollout.steps)
            ),
            "interval": f"{rollout.interval_ms / 1000:g} s",
            "max error rate": rollout.max_error_rate,
            "max p99": None if rollout.max_p99_ms is None else f"{rollout.max_p99_ms:g} ms",
            "next step": format_time(rollout.next_at) if rollout.next_at else None,
            "outcome": rollout.outcome,
        },
    )
    print_table(
        "History",
        ["when", "what", "traffic", "detail"],
        rollout.history,
        lambda e: [format_time(e.at), e.action, _shares(e.traffic), e.detail],
    )


@endpoint_app.command("create")
def create_endpoint(
    name: Annotated[str, typer.Argument(help="Endpoint name (lowercase, digits, '-').")],
    port: Annotated[
        int | None, typer.Option(help="Port of its router (default: assigned).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it serves.")] = None,
    reason: ReasonOption = None,
) -> None:
    """Create an endpoint."""
    with user_errors():
        endpoint = open_client().serving.create_endpoint(
            name, port=port, description=description, reason=reason
        )
        typer.echo(f"created endpoint {endpoint.name} on port {endpoint.port}")


@endpoint_app.command("list")
def list_endpoints(as_json: JsonOption = False) -> None:
    """List endpoints."""
    with user_errors():
        found = open_client().serving.endpoints()
        if as_json:
            print_json(found)
            return
        print_table(
            "Endpoints",
            ["name", "port", "traffic", "mirror", "deployments", "rollout"],
            found,
            lambda e: [
                e.name,
                e.port,
                _shares(e.traffic),
                _shares(e.mirror),
                len(e.deployments),
                None if e.rollout is None else f"{e.rollout.target}: {e.rollout.state.value}",
            ],
        )


@endpoint_app.command("show")
def show_endpoint(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], as_json: JsonOption = False
) -> None:
    """Show an endpoint: deployments, traffic, live state and its latest rollout.

    The live state is what the supervisor on this machine last reported (``--json``: under
    ``live``; not supervised, with the reason, when none runs the endpoint).
    """
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.serving.supervisor import live_endpoint

    with user_errors():
        client = open_client()
        endpoint = client.serving.endpoint(name)
        live = live_endpoint(client.settings, endpoint)
        if as_json:
            # Each as its own JSON (NaN and infinities as strings), then one object.
            shown = json.loads(endpoint.model_dump_json(by_alias=True))
            shown["live"] = json.loads(live.model_dump_json(by_alias=True))
            print_json(shown)
        else:
            _show_endpoint(endpoint, live)


@endpoint_app.command("delete")
def delete_endpoint(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], reason: ReasonOption = None
) -> None:
    """Delete an endpoint and its deployments."""
    with user_errors():
        open_client().serving.delete_endpoint(name, reason=reason)
        typer.echo(f"deleted endpoint {name}")


@endpoint_app.command("history")
def endpoint_history(
    name: Annotated[str, typer.Argument(help="Endpoint name (a deleted one too).")],
    at: Annotated[
        str | None,
        typer.Option(help="Only the state then: ISO-8601 (UTC unless offset given) or ms."),
    ] = None,
    limit: Annotated[
        int, bounded(limits.HISTORY_STATES, "The newest states shown", whole=True)
    ] = default(limits.HISTORY_STATES, whole=True),
    as_json: JsonOption = False,
) -> None:
    """Which versions served which shares, and when: `modelyard endpoint history churn`.

    Told from the audit records, so it holds for any past instant and for deleted endpoints.
    """
    instant = None if at is None else parse_time(at, "--at")
    with user_errors():
        history = open_client().serving.endpoint_history(name, at=instant, limit=limit)
        show_history(history, as_json=as_json)


@endpoint_app.command("traffic")
def traffic(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    shares: Annotated[
        list[str] | None, typer.Argument(help="DEPLOYMENT=PERCENT ..., adding up to 100.")
    ] = None,
    mirror: Annotated[
        list[str] | None,
        typer.Option(help="DEPLOYMENT=PERCENT: copy that share of requests to it (repeatable)."),
    ] = None,
    no_mirror: Annotated[bool, typer.Option("--no-mirror", help="Stop mirroring.")] = False,
    reason: ReasonOption = None,
) -> None:
    """Split an endpoint's traffic: `modelyard endpoint traffic churn blue=90 green=10`."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.serving.models import parse_shares

    with user_errors():
        serving = open_client().serving
        split = parse_shares(shares or [], "traffic")
        if not split:
            split = serving.endpoint(name).traffic
        mirrored = {} if no_mirror else (parse_shares(mirror, "mirror") if mirror else None)
        endpoint = serving.set_traffic(name, split, mirror=mirrored, reason=reason)
        typer.echo(
            f"{endpoint.name}: traffic {_shares(endpoint.traffic)}; "
            f"mirror {_shares(endpoint.mirror)}"
        )


@deployment_app.command("create")
def create_deployment(
    ref: Annotated[str, typer.Argument(help="ENDPOINT/NAME, e.g. churn/blue.")],
    model: Annotated[str, typer.Option(help="models:/NAME/VERSION or models:/NAME@ALIAS.")],
    workers: Annotated[int, bounded(limits.WORKERS, "Worker processes", whole=True)] = default(
        limits.WORKERS, whole=True
    ),
    max_batch_size: Annotated[
        int, bounded(limits.MAX_BATCH_SIZE, "Rows per predict call", whole=True)
    ] = default(limits.MAX_BATCH_SIZE, whole=True),
    max_wait_ms: Annotated[
        float, bounded(limits.MAX_WAIT_MS, "Longest wait to batch, in ms")
    ] = default(limits.MAX_WAIT_MS),
    sample_rate: Annotated[
        float, bounded(limits.SAMPLE_RATE, "Share of requests in the inference log")
    ] = default(limits.SAMPLE_RATE),
    reason: ReasonOption = None,
) -> None:
    """Deploy a model version on an endpoint (an alias is pinned to its version now)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.serving.models import DeploymentConfig

    with user_errors():
        endpoint, name = _split(ref)
        config = DeploymentConfig(
            max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, sample_rate=sample_rate
        )
        deployment = open_client().serving.create_deployment(
            endpoint, name, model, workers=workers, config=config, reason=reason
        )
        typer.echo(f"created deployment {deployment.ref} serving {deployment.version_uri}")


@deployment_app.command("update")
def update_deployment(
    ref: Annotated[str, typer.Argument(help="ENDPOINT/NAME.")],
    model: Annotated[str | None, typer.Option(help="A new model URI.")] = None,
    workers: Annotated[int | None, bounded(limits.WORKERS, "Worker processes", whole=True)] = None,
    reason: ReasonOption = None,
) -> None:
    """Change a deployment's model or workers; the supervisor replaces it without a gap."""
    with user_errors():
        endpoint, name = _split(ref)
        deployment = open_client().serving.update_deployment(
            endpoint, name, model_uri=model, workers=workers, reason=reason
        )
        typer.echo(f"{deployment.ref}: {deployment.version_uri}, {deployment.workers} workers")


@deployment_app.command("list")
def list_deployments(
    endpoint: Annotated[str | None, typer.Argument(help="Only this endpoint's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List deployments."""
    with user_errors():
        found = open_client().serving.deployments(endpoint)
        if as_json:
            print_json(found)
            return
        print_table(
            "Deployments",
            ["deployment", "model", "as given", "workers", "updated"],
            found,
            lambda d: [d.ref, d.version_uri, d.model_uri, d.workers, format_time(d.updated_at)],
        )


@deployment_app.command("show")
def show_deployment(
    ref: Annotated[str, typer.Argument(help="ENDPOINT/NAME.")], as_json: JsonOption = False
) -> None:
    """Show a deployment."""
    with user_errors():
        deployment = open_client().serving.deployment(*_split(ref))
        if as_json:
            print_json(deployment)
            return
        print_mapping(
            f"Deployment {deployment.ref}",
            {
                "model": deployment.version_uri,
                "as given": deployment.model_uri,
                "environment": deployment.environment_hash,
                "workers": deployment.workers,
                "max batch size": deployment.config.max_batch_size,
                "max wait": f"{deployment.config.max_wait_ms:g} ms",
                "inference log sample": f"{deployment.config.sample_rate:.0%}",
                "created": f"{format_time(deployment.created_at)} by {deployment.created_by}",
            },
        )


@deployment_app.command("delete")
def delete_deployment(
    ref: Annotated[str, typer.Argument(help="ENDPOINT/NAME.")], reason: ReasonOption = None
) -> None:
    """Delete a deployment with no traffic; the supervisor drains and stops it."""
    with user_errors():
        open_client().serving.delete_deployment(*_split(ref), reason=reason)
        typer.echo(f"deleted deployment {ref}")


@rollout_app.command("start")
def start_rollout(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    to: Annotated[str, typer.Option("--to", help="The deployment to move traffic to.")],
    steps: Annotated[
        str, typer.Option(help="Its share at each step, e.g. 10,50,100.")
    ] = "10,50,100",
    interval: Annotated[str, typer.Option(help="Time per step, e.g. 60s, 5m.")] = "60s",
    max_error_rate: Annotated[
        float | None, typer.Option(min=0, max=1, help="Roll back above this error rate.")
    ] = None,
    max_p99_ms: Annotated[
        float | None, typer.Option(min=0, help="Roll back above this p99 latency (ms).")
    ] = None,
    reason: ReasonOption = None,
) -> None:
    """Start moving traffic to a deployment step by step (the supervisor runs the steps)."""

    with user_errors():
        try:
            shares = [int(s) for s in steps.split(",") if s.strip()]
        except ValueError:
            raise InvalidInput(f"steps '{steps}': write percents such as 10,50,100") from None
        rollout = open_client().serving.start_rollout(
            endpoint,
            to,
            shares,
            interval_ms=parse_duration_ms(interval),
            max_error_rate=max_error_rate,
            max_p99_ms=max_p99_ms,
            reason=reason,
        )
        typer.echo(f"rollout to {rollout.target} started: {_shares(rollout.history[-1].traffic)}")


@rollout_app.command("status")
def rollout_status(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")], as_json: JsonOption = False
) -> None:
    """Show the endpoint's latest rollout and its history."""
    with user_errors():
        rollout = open_client().serving.rollout(endpoint)
        if as_json:
            print_json(rollout)
        else:
            _show_rollout(rollout)


@rollout_app.command("pause")
def pause_rollout(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")], reason: ReasonOption = None
) -> None:
    """Hold the current step."""
    with user_errors():
        rollout = open_client().serving.pause_rollout(endpoint, reason=reason)
        typer.echo(f"rollout to {rollout.target}: {rollout.state.value}")


@rollout_app.command("resume")
def resume_rollout(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")], reason: ReasonOption = None
) -> None:
    """Continue a paused rollout."""
    with user_errors():
        rollout = open_client().serving.resume_rollout(endpoint, reason=reason)
        typer.echo(f"rollout to {rollout.target}: {rollout.state.value}")


@rollout_app.command("abort")
def abort_rollout(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")], reason: ReasonOption = None
) -> None:
    """Stop the rollout and restore the traffic split it started from."""
    with user_errors():
        rollout = open_client().serving.abort_rollout(endpoint, reason=reason)
        typer.echo(f"rollout to {rollout.target} aborted: {_shares(rollout.history[-1].traffic)}")


def supervisor(
    poll_seconds: Annotated[
        float, typer.Option(min=0.1, help="Seconds between reads of the desired state.")
    ] = 1.0,
    min_requests: Annotated[
        int, typer.Option(min=0, help="Requests a rollout step needs before it is judged.")
    ] = 20,
) -> None:
    """Run every endpoint of the store on this machine: routers, deployments, rollouts."""
    import logging

    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.serving.supervisor import Supervisor

    with user_errors():
        client = open_client()
        # Our own progress at INFO; libraries (httpx logs every readiness probe) only warn.
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
        logging.getLogger("modelyard").setLevel(logging.INFO)
        runner = Supervisor(
            client.backend,
            client.settings,
            poll_seconds=poll_seconds,
            min_requests=min_requests,
        )
        typer.echo("supervising endpoints (Ctrl-C stops them)")
        runner.run()
        typer.echo("supervisor stopped")
