"""``modelyard endpoint history``: showing an endpoint's states."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.cli.output import format_time, print_json, print_mapping, print_table

if TYPE_CHECKING:
    from modelyard.serving.history import EndpointHistory, EndpointState


def _serving(state: EndpointState) -> str:
    if not state.exists:
        return "(endpoint deleted)"
    parts = []
    for d in state.deployments:
        share = f"mirror {d.mirror}%" if d.mirror else f"{d.traffic}%"
        parts.append(f"{d.name} {d.model} v{d.version} {share}")
    return ", ".join(parts) or "(no deployments)"


def _why(state: EndpointState) -> str | None:
    """The actor's reason, then what the change recorded of why the split moved."""
    detail = f"({state.detail})" if state.detail else None
    return " ".join(t for t in (state.reason, detail) if t) or None


def _show_state(endpoint: str, at: int, state: EndpointState) -> None:
    print_mapping(
        f"Endpoint {endpoint}",
        {
            "at": f"{format_time(at)} UTC",
            "since": f"{format_time(state.since)} UTC",
            "until": "now" if state.until is None else f"{format_time(state.until)} UTC",
            "by": state.actor,
            "action": state.action,
            "why": _why(state),
            **({} if state.exists else {"serving": "nothing: the endpoint was deleted"}),
        },
    )
    if state.exists:
        print_table(
            "Deployments",
            ["name", "model", "version", "as given", "traffic", "mirror"],
            state.deployments,
            lambda d: [d.name, d.model, d.version, d.model_uri, f"{d.traffic}%", f"{d.mirror}%"],
        )


def show_history(history: EndpointHistory, *, as_json: bool) -> None:
    """The timeline (or, with ``at``, the state then) as a table, or as JSON."""
    if as_json:
        print_json(history)
        return
    if history.at is not None:
        _show_state(history.endpoint, history.at, history.states[0])
        return
    older = " (older states left off: --limit)" if history.truncated else ""
    print_table(
        f"History of {history.endpoint}, times in UTC{older}",
        ["since", "actor", "action", "serving", "why"],
        history.states,
        lambda s: [format_time(s.since), s.actor, s.action, _serving(s), _why(s)],
    )
