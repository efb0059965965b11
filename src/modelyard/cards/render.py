"""A model card as Markdown or as a self-contained HTML page.

Everything in a card comes from what users typed (descriptions, reasons, limitations, tag
values), so the HTML escapes every value, and the Markdown escapes what would otherwise
become markup (table pipes, leading ``#``, HTML tags).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from modelyard.cards.models import ModelCard

Section = tuple[str, list[tuple[str, Any]], list[tuple[str, list[str], list[list[Any]]]]]


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _text(value: Any) -> str:
    if value is None or value == "" or value == {} or value == []:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _passed(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def sections(card: ModelCard) -> list[Section]:
    """The card's four parts, each as (title, facts, tables): what both renderers show."""
    d, p, q, c = (
        card.model_details,
        card.model_parameters,
        card.quantitative_analysis,
        card.considerations,
    )
    environment = p.environment or {}
    return [
        (
            "Model details",
            [
                ("Model", d.uri),
                ("Status", d.status),
                ("Owner", d.owner),
                ("Description", d.description),
                ("Flavor", d.flavor),
                ("Aliases", ", ".join(d.aliases)),
                ("Source", d.source),
                ("Training run", f"runs:/{d.run_id}" if d.run_id else None),
                ("Registered", f"{_when(d.registered_at)} by {d.registered_by}"),
                ("Why", d.registered_reason),
                ("Tags", d.tags),
            ],
            [],
        ),
        (
            "Model parameters",
            [
                ("Signature", p.signature),
                (
                    "Environment",
                    f"{environment.get('ref', '-')} (python {environment.get('python', '-')}, "
                    f"{len(environment.get('packages', []))} packages, sha256 "
                    f"{environment.get('hash')})"
                    if environment
                    else None,
                ),
                ("Training parameters", p.training_params),
            ],
            [
                (
                    "Training data",
                    ["name", "content hash", "source", "context", "read by"],
                    [[t.name, t.digest, t.source, t.context, t.via] for t in p.training_data],
                )
            ],
        ),
        (
            "Quantitative analysis",
            [("Metrics at registration", q.metrics)],
            [
                (
                    "Evaluations",
                    ["when", "by", "data", "rows", "metrics", "baseline", "passed"],
                    [
                        [
                            _when(e.get("created_at")),
                            e.get("created_by"),
                            f"{e.get('data')} (sha256 {e.get('data_sha256')})",
                            e.get("rows"),
                            e.get("metrics"),
                            f"models:/{e['baseline_model']}/{e['baseline_version']}"
                            if e.get("baseline_model")
                            else None,
                            _passed(e.get("passed")),
                        ]
                        for e in q.evaluations
                    ],
                )
            ],
        ),
        (
            "Considerations",
            [("Intended use", c.intended_use), ("Limitations", c.limitations)],
            [
                (
                    "Alias moves",
                    ["when", "who", "alias", "from", "to", "why"],
                    [
                        [_when(m.at), m.actor, m.alias, m.from_version, m.to_version, m.reason]
                        for m in c.alias_history
                    ],
                ),
                (
                    "Approvals",
                    ["asked", "by", "change", "why", "decision", "decided by", "their reason"],
                    [
                        [
                            _when(a.requested_at),
                            a.requested_by,
                            a.summary,
                            a.reason,
                            a.state.value,
                            a.decided_by,
                            a.decision_reason,
                        ]
                        for a in c.approvals
                    ],
                ),
                (
                    "Deployed now",
                    ["endpoint", "deployment", "traffic", "mirror"],
                    [
                        [s.endpoint, s.deployment, f"{s.traffic}%", f"{s.mirror}%"]
                        for s in c.deployed
                    ],
                ),
            ],
        ),
    ]


def _md(value: Any) -> str:
    text = _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return "\\" + text if text.startswith(("#", "-", "*", ">", "+")) and text != "-" else text


def markdown(card: ModelCard) -> str:
    d = card.model_details
    lines = [f"# Model card: {_md(d.name)} version {d.version}", ""]
    lines.append(f"Generated {_when(card.generated_at)} from the Modelyard records.")
    for title, facts, tables in sections(card):
        lines += ["", f"## {title}", ""]
        lines += [f"- **{name}**: {_md(value)}" for name, value in facts]
        for caption, header, rows in tables:
            lines += ["", f"### {caption}", ""]
            if not rows:
                lines.append("None recorded.")
                continue
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1f24}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid "
    "#d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f6f8fa}"
    "dt{font-weight:600}dd{margin:0 0 .4rem 0}code{font-size:.9em}"
)


def html_page(card: ModelCard) -> str:
    d = card.model_details
    e = html.escape
    title = f"Model card: {d.name} version {d.version}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>Generated {e(_when(card.generated_at))} from the Modelyard records.</p>",
    ]
    for section, facts, tables in sections(card):
        parts.append(f"<h2>{e(section)}</h2><dl>")
        parts += [f"<dt>{e(name)}</dt><dd>{e(_text(value))}</dd>" for name, value in facts]
        parts.append("</dl>")
        for caption, header, rows in tables:
            parts.append(f"<h3>{e(caption)}</h3>")
            if not rows:
                parts.append("<p>None recorded.</p>")
                continue
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            parts += [
                "<tr>" + "".join(f"<td>{e(_text(v))}</td>" for v in row) + "</tr>" for row in rows
            ]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
