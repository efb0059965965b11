"""``modelyard model``: register, list, show, version, alias, archive, delete, package, verify
and compare models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    parse_pairs,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    from modelyard.registry.models import ModelVersion

app = command_group("The model registry: versions, aliases, URIs.")


def _signature_text(signature: dict[str, Any] | None) -> str | None:
    """A signature on one line: ``a: float, b: integer`` or ``float32 [-1, 4]``."""
    if signature is None:
        return None
    if signature.get("type") == "dataframe":
        return ", ".join(f"{c['name']}: {c['type']}" for c in signature.get("columns", []))
    return f"{signature.get('dtype', '?')} {signature.get('shape', '')}".strip()


def _show_version(version: ModelVersion) -> None:
    print_mapping(
        f"{version.uri}",
        {
            "status": version.status.value,
            "aliases": ", ".join(version.aliases) or None,
            "flavor": version.flavor,
            "source": version.source,
            "run": version.run_id,
            "size": version.size,
            "files": version.manifest[:16],
            "environment": version.environment_hash,
            "trusted (pickle)": version.trusted,
            "signature": _signature_text(version.signature),
            "tags": ", ".join(f"{k}={v}" for k, v in sorted(version.tags.items())) or None,
            "registered": f"{format_time(version.created_at)} by {version.created_by}",
            "description": version.description,
        },
    )
    if version.metrics:
        print_mapping("Metrics", dict(sorted(version.metrics.items())))


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Model name.")],
    source: Annotated[
        str,
        typer.Argument(
            help="runs:/RUN_ID/PATH, pipelines:/RUN_ID/STEP/OUTPUT, s3://..., https://..., "
            "or a local file or folder."
        ),
    ],
    flavor: Annotated[
        str | None,
        typer.Option(
            help="sklearn, onnx, python or pickle; needed for a plain .onnx, .skops, .pkl or "
            ".joblib file (a folder saved by Modelyard says its own)."
        ),
    ] = None,
    trusted: Annotated[
        bool,
        typer.Option(
            "--trusted",
            "--trust",
            help="Allow this version's pickle or joblib file to load (loading a pickle runs "
            "its code: only for files you made or trust).",
        ),
    ] = False,
    tag: Annotated[list[str] | None, typer.Option(help="Tag as key=value; repeatable.")] = None,
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    allow_outside_cwd: Annotated[
        bool,
        typer.Option(
            "--allow-outside-cwd",
            help="Register a local file or folder outside the current folder (refused "
            "otherwise, so a path from a script cannot upload any file you can read).",
        ),
    ] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a new version of a model."""
    tags = parse_pairs(tag, "tag")
    with user_errors():
        version = open_client().registry.register(
            name,
            source,
            flavor=flavor,
            trusted=trusted,
            tags=tags,
            description=description,
            reason=reason,
            allow_outside_cwd=allow_outside_cwd,
        )
        if as_json:
            print_json(version)
        else:
            typer.echo(f"registered {version.uri} ({version.size} bytes)")


@app.command("list")
def list_models(as_json: JsonOption = False) -> None:
    """List registered models."""
    with user_errors():
        models = open_client().registry.list()
        if as_json:
            print_json(models)
            return
        print_table(
            "Models",
            ["name", "latest", "aliases", "updated", "description"],
            models,
            lambda m: [
                m.name,
                m.latest_version,
                ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())),
                format_time(m.updated_at),
                m.description,
            ],
        )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, or a URI: models:/NAME/3, models:/NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """Show a model, or the version a URI names."""
    with user_errors():
        registry = open_client().registry
        if ref.startswith("models:/"):
            version = registry.resolve(ref)
            if as_json:
                print_json(version)
                return
            _show_version(version)
            evaluations = registry.evaluations(version.model, version.version)
            if evaluations:
                print_table(
                    "Evaluations (model compare)",
                    ["when", "data", "rows", "against", "metrics", "gates"],
                    evaluations,
                    lambda e: [
                        format_time(e.created_at),
                        Path(e.data).name,
                        e.rows,
                        None
                        if e.baseline_model is None
                        else f"models:/{e.baseline_model}/{e.baseline_version}",
                        ", ".join(f"{k}={_number(v)}" for k, v in e.metrics.items()),
                        {True: "passed", False: "FAILED", None: ""}[e.passed],
                    ],
                )
            return
        model = registry.get(ref)
        if as_json:
            print_json(model)
            return
        print_mapping(
            f"Model {model.name}",
            {
                "latest version": model.latest_version,
                "aliases": ", ".join(f"{a}={v}" for a, v in sorted(model.aliases.items())) or None,
                "created": f"{format_time(model.created_at)} by {model.created_by}",
                "description": model.description,
            },
        )


@app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    as_json: JsonOption = False,
) -> None:
    """List a model's versions, newest first."""
    with user_errors():
        found = open_client().registry.versions(name)
        if as_json:
            print_json(found)
            return
        print_table(
            f"Versions of {name}",
            ["version", "status", "aliases", "flavor", "run", "registered", "source"],
            found,
            lambda v: [
                v.version,
                v.status.value,
                ", ".join(v.aliases),
                v.flavor,
                v.run_id,
                format_time(v.created_at),
                v.source,
            ],
        )


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion.")],
    version: Annotated[int | None, typer.Argument(help="Version to point at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Show its moves.")] = False,
    reason: ReasonOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: with --history its moves (at, actor, reason, previous_version, "
            "version), with VERSION the version it now points at.",
        ),
    ] = False,
) -> None:
    """Point an alias at a version, remove it (--delete) or show its history (--history)."""
    with user_errors():
        if as_json and delete and not history:
            fail("--json goes with --history or a VERSION; --delete prints no JSON")
        registry = open_client().registry
        if history:
            changes = registry.alias_history(name, alias_name)
            if as_json:
                print_json(changes)
                return
            print_table(
                f"{name}@{alias_name}",
                ["when", "from", "to", "by", "why"],
                changes,
                lambda h: [format_time(h.at), h.previous_version, h.version, h.actor, h.reason],
            )
        elif delete:
            registry.delete_alias(name, alias_name, reason=reason)
            typer.echo(f"removed {name}@{alias_name}")
        elif version is None:
            fail("give the VERSION to point the alias at, or --delete, or --history")
        else:
            pointed = registry.set_alias(name, alias_name, version, reason=reason)
            if as_json:
                print_json(pointed)
                return
            typer.echo(f"models:/{name}@{alias_name} -> models:/{name}/{version}")


@app.command("archive")
def archive(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version.")],
    reason: ReasonOption = None,
) -> None:
    """Archive a version (no alias may point at it)."""
    with user_errors():
        open_client().registry.archive(name, version, reason=reason)
        typer.echo(f"archived models:/{name}/{version}")


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version.")],
    reason: ReasonOption = None,
) -> None:
    """Delete a version (refused while an alias or a deployment uses it)."""
    with user_errors():
        open_client().registry.delete_version(name, version, reason=reason)
        typer.echo(f"deleted models:/{name}/{version}")


def _number(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


@app.command("compare")
def compare(
    candidate: Annotated[str, typer.Argument(help="The candidate: models:/NAME@challenger.")],
    baseline: Annotated[
        str | None, typer.Argument(help="The baseline: models:/NAME@champion (optional).")
    ] = None,
    data: Annotated[
        Path, typer.Option(help="Held-out table: .parquet, .csv, .json or .jsonl.")
    ] = Path("holdout.parquet"),
    target: Annotated[str, typer.Option(help="The column holding the true values.")] = "y",
    metric: Annotated[
        list[str] | None,
        typer.Option(help="auc, accuracy, f1, precision, recall, log_loss, rmse, mse, mae, r2."),
    ] = None,
    gate: Annotated[
        list[str] | None,
        typer.Option(help='e.g. "auc >= baseline + 0.01"; exit 1 when one fails.'),
    ] = None,
    record: Annotated[bool, typer.Option(help="Keep the result on the candidate version.")] = True,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a candidate (and a baseline) on the same data; gates make CI stop bad models."""
    with user_errors():
        gates = gate or []
        metrics = metric or ([] if gates else ["accuracy"])
        version, base, comparison, stored = open_client().registry.compare(
            candidate,
            baseline,
            data,
            target=target,
            metrics=metrics,
            gates=gates,
            record=record,
            reason=reason,
        )
    if as_json:
        table = comparison.to_dict()
        table["candidate"] = version.uri
        table["baseline"] = None if base is None else base.uri
        table["evaluation_id"] = None if stored is None else stored.id
        typer.echo(json.dumps(table, indent=2))
    else:
        columns = ["metric", version.uri]
        if base is not None:
            columns += [base.uri, "delta", ""]
        print_table(
            f"{data} ({target})",
            columns,
            comparison.rows,
            lambda r: (
                [r.metric, _number(r.candidate)]
                + (
                    []
                    if base is None
                    else [
                        _number(r.baseline),
                        "n/a" if r.delta is None else f"{r.delta:+.4f}",
                        {True: "better", False: "worse", None: ""}[r.improved],
                    ]
                )
            ),
        )
        for outcome in comparison.gates:
            typer.echo(f"{'pass' if outcome.passed else 'FAIL'}  {outcome.message}")
    if not comparison.passed:
        raise typer.Exit(1)


@app.command("download")
def download(
    uri: Annotated[str, typer.Argument(help="models:/NAME/VERSION or models:/NAME@ALIAS.")],
    dest: Annotated[Path, typer.Option(help="Folder to write the files into.")] = Path("."),
) -> None:
    """Download a version's files, checking each hash."""
    with user_errors():
        typer.echo(str(open_client().registry.download(uri, dest)))


@app.command("package")
def package(
    uri: Annotated[str, typer.Argument(help="models:/NAME/VERSION or models:/NAME@ALIAS.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New or empty folder to write.")],
) -> None:
    """Write a self-contained package: files, environment, score.py, Dockerfile, k8s YAML."""
    with user_errors():
        typer.echo(str(open_client().registry.package(uri, out)))


@app.command("verify")
def verify(
    folder: Annotated[Path, typer.Argument(help="A folder written by `modelyard model package`.")],
) -> None:
    """Check a package against its manifest.json: exit 2 if a file is missing, extra or changed."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.registry.packaging import MANIFEST, verify_package

    problems = verify_package(folder)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        fail("; ".join(problems[:3]) + more)
    files = len(json.loads((folder / MANIFEST).read_bytes())["files"])
    typer.echo(f"ok: {files} files verified")


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    description: Annotated[str | None, typer.Option(help="What the model is.")] = None,
    owner: Annotated[str | None, typer.Option(help="Who answers for it (a team).")] = None,
    intended_use: Annotated[
        str | None, typer.Option("--intended-use", help="What it is for, and for whom.")
    ] = None,
    limitations: Annotated[
        str | None, typer.Option(help="Where it should not be used, what it gets wrong.")
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change what the model's card says (an empty value clears a field)."""
    if all(v is None for v in (description, owner, intended_use, limitations)):
        fail("say what to change: --description, --owner, --intended-use or --limitations")
    with user_errors():
        model = open_client().registry.update(
            name,
            description=description,
            owner=owner,
            intended_use=intended_use,
            limitations=limitations,
            reason=reason,
        )
    if as_json:
        print_json(model)
        return
    typer.echo(f"updated model {model.name}")


@app.command("card")
def card(
    uri: Annotated[
        str, typer.Argument(help="models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest")
    ],
    format: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write it here (default: print it).")
    ] = None,
) -> None:
    """The model card of a version, from the records: details, parameters, quantitative
    analysis (metrics, evaluations) and considerations (intended use, limitations, who moved
    which alias to it and why, where it is deployed)."""
    if format not in ("md", "html", "json"):
        fail(f"--format '{format}': use md, html or json")
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.cards.render import html_page, markdown

    with user_errors():
        made = open_client().registry.card(uri)
    text = (
        markdown(made)
        if format == "md"
        else html_page(made)
        if format == "html"
        else made.model_dump_json(indent=2) + "\n"
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"model card of {made.model_details.uri} written to {output}")
