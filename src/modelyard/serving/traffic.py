"""Traffic splits: checking them, and shifting a share to one deployment during a rollout.

Pure functions on ``{deployment: percent}`` dicts, shared by the operations (which store a
split) and the router (which routes by it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelyard.errors import InvalidInput


def check_split(
    traffic: Mapping[str, int], mirror: Mapping[str, int], deployments: Iterable[str]
) -> None:
    """Refuse a split that names unknown deployments, does not add up, or mirrors live ones."""
    known = set(deployments)
    unknown = sorted((set(traffic) | set(mirror)) - known)
    if unknown:
        raise InvalidInput(
            f"no deployment {', '.join(repr(n) for n in unknown)} on this endpoint "
            f"(deployments: {', '.join(sorted(known)) or 'none yet'})",
            details={"unknown": unknown},
        )
    total = sum(traffic.values())
    if traffic and total != 100:
        raise InvalidInput(
            f"traffic shares add up to {total}, not 100: e.g. blue=90 green=10",
            details={"total": total},
        )
    live = sorted(name for name, share in mirror.items() if share and traffic.get(name, 0) > 0)
    if live:
        raise InvalidInput(
            f"{', '.join(live)} already answers live traffic; mirror only to a deployment "
            "with no traffic share",
            details={"mirrored": live},
        )


def live(traffic: Mapping[str, int]) -> dict[str, int]:
    """The deployments with a share above zero."""
    return {name: share for name, share in traffic.items() if share > 0}


def shift(initial: Mapping[str, int], target: str, percent: int) -> dict[str, int]:
    """``target`` gets ``percent``; the rest keep their relative shares of what is left.

    Largest-remainder rounding keeps whole percents that add up to exactly 100.
    """
    others = {n: s for n, s in initial.items() if n != target and s > 0}
    left = 100 - percent
    total = sum(others.values())
    if not others or total == 0:
        return {target: 100}
    exact = {n: left * s / total for n, s in others.items()}
    shares = {n: int(v) for n, v in exact.items()}
    short = left - sum(shares.values())
    for name in sorted(exact, key=lambda n: (shares[n] - exact[n], n))[:short]:
        shares[name] += 1
    result = {target: percent, **shares}
    return {n: result.get(n, 0) for n in sorted(set(initial) | {target})}
