"""``modelyard score``: batch scoring of a Parquet or CSV file, with a progress bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.output import user_errors

# Without a terminal, progress is a line this often (logs and pipes keep every line).
PLAIN_EVERY_SECONDS = 5.0


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "- rows/s"


class BarProgress:
    """A Rich progress bar on stderr: rows scored of the total, rows per second, time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows  {task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("score", total=None, rate="")

    def __call__(self, done: int, total: int | None) -> None:
        rate = _rate(done, time.monotonic() - self.started)
        self.progress.update(self.task, completed=done, total=total, rate=rate)

    def __enter__(self) -> BarProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()


class PlainProgress:
    """A line on stderr every few seconds, for logs and pipes (no terminal to redraw)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PLAIN_EVERY_SECONDS:
            return
        self.last = now
        of = f" of {total:,} rows ({done / total:.0%})" if total else " rows"
        typer.echo(f"scored {done:,}{of}, {_rate(done, now - self.started)}", err=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def score(
    model: Annotated[
        str,
        typer.Argument(
            help="models:/NAME@ALIAS or models:/NAME/VERSION, a folder written by "
            "`modelyard model package`, or a saved model folder."
        ),
    ],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="Rows to score: a .parquet or .csv file.")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write predictions: .parquet or .csv."),
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows read and scored at a time.")
    ] = 50_000,
    executor: Annotated[
        str, typer.Option(help="inline, processes[:N], dask or dask://host:port.")
    ] = "inline",
    proba: Annotated[
        bool, typer.Option("--proba", help="Add a proba_<class> column per class.")
    ] = False,
    keep_columns: Annotated[
        bool, typer.Option("--keep-columns", help="Copy every input column to the output.")
    ] = False,
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Copy this input column to the output.")
    ] = None,
    prediction_column: Annotated[
        str, typer.Option("--prediction-column", help="Name of the predictions' column.")
    ] = "prediction",
) -> None:
    """Score a file in chunks (never whole in memory) and write the predictions in order."""
    from functools import partial

    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import get_settings
    from modelyard.serving.batch import score_file
    from modelyard.serving.sources import model_source

    run = partial(
        score_file,
        input=input,
        output=output,
        chunk_rows=chunk_rows,
        executor=executor,
        prediction_column=prediction_column,
        proba=proba,
        keep_columns=keep_columns,
        id_column=id_column,
    )
    display: BarProgress | PlainProgress = BarProgress() if sys.stderr.isatty() else PlainProgress()
    # A registered version is resolved and downloaded once; the workers only read it.
    with user_errors(), model_source(model, get_settings()) as (folder, version), display:
        result = run(folder, version, on_progress=display)
    typer.echo(
        f"scored {result.rows:,} rows in {result.seconds:.1f} s ({result.executor}, "
        f"{result.chunks} chunks) into {result.output}"
    )
