"""Batch scoring: run a model over a Parquet or CSV file, chunk by chunk, into a new file.

Neither file is ever held whole in memory: the input is read ``chunk_rows`` rows at a time,
each chunk is checked against the model's signature and scored (here, on local processes
or on a Dask cluster), and the predictions are appended to the output in input order. At
most a few chunks per worker are in flight, so memory stays bounded whatever the file's
size. The output is written to a temporary file beside it and renamed at the end: a
failure never leaves a half-written output.

Each worker process loads the model once, from the local folder, on its first chunk. A
remote Dask cluster's workers must therefore see that folder at the same path (a shared
file system); a local cluster needs nothing more.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.executors import Executor, make_executor, parse_executor_spec
from modelyard.registry.flavors import describe
from modelyard.registry.loading import INPUT_ERRORS, LoadedModel
from modelyard.registry.models import ModelVersion
from modelyard.serving import csv_reader
from modelyard.serving.server import WorkerConfig, load_served, plan_source

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("modelyard.serving")

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
DEFAULT_CHUNK_ROWS = 50_000
# Chunks in flight per worker: one being scored, one waiting, so no worker idles while
# the reader or the writer catches up.
IN_FLIGHT_PER_WORKER = 2

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ScoringJob:
    """What a worker needs, besides the chunk, to score it."""

    config: WorkerConfig
    # New for each score_file call: a long-lived worker (Dask's) reloads the model for a
    # new job, so a model saved again into the same folder is never scored stale.
    token: str
    prediction_column: str = "prediction"
    proba: bool = False


@dataclass(frozen=True)
class ScoreResult:
    """What a finished ``score_file`` did."""

    rows: int
    chunks: int
    seconds: float
    output: Path
    executor: str


def file_format(path: Path) -> str:
    """``parquet`` or ``csv``, from ``path``'s extension."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"'{path}': unknown extension '{path.suffix}'; batch scoring reads and writes "
            f"{', '.join(FORMATS)} files",
            details={"path": str(path)},
        )
    return kind


class ChunkedInput:
    """A Parquet or CSV file read as tables of at most ``chunk_rows`` rows."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        import pyarrow as pa

        if chunk_rows < 1:
            raise InvalidInput("the chunk size must be at least 1 row")
        self.kind = file_format(path)
        if not path.is_file():
            raise InvalidInput(
                f"'{path}' does not exist or is not a file", details={"path": str(path)}
            )
        self.path = path
        self.chunk_rows = chunk_rows
        self._parquet: Any = None
        self._csv: Any = None
        try:
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetFile(path)
                self.schema: Any = self._parquet.schema_arrow
                self.rows_total: int | None = self._parquet.metadata.num_rows
            else:
                self._csv = csv_reader.open_file(path)
                self.schema = self._csv.schema
                # Counting a CSV's rows means reading it: the total stays unknown.
                self.rows_total = None
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise self._unreadable(exc, 0) from exc

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def _unreadable(self, exc: BaseException, row: int) -> InvalidInput:
        ragged = csv_reader.ragged_row(exc)
        if ragged is not None:
            return InvalidInput(
                f"cannot read '{self.path}': {ragged.message}",
                details={"path": str(self.path), **ragged.details},
            )
        where = f" after row {row}" if row else ""
        return InvalidInput(
            f"cannot read '{self.path}' as {self.kind}{where}: {exc}",
            details={"path": str(self.path), "row": row},
        )

    def chunks(self, columns: list[str] | None = None) -> Iterator[Any]:
        """The file as ``pyarrow.Table`` chunks of ``chunk_rows`` rows (the last one shorter),
        holding only ``columns`` (all if none)."""
        import pyarrow as pa

        if self._parquet is not None:
            batches: Iterator[Any] = self._parquet.iter_batches(
                batch_size=self.chunk_rows, columns=columns
            )
        else:
            batches = self._csv
        done = 0
        try:
            for chunk in rechunk(batches, self.chunk_rows):
                if columns is not None and self._csv is not None:
                    chunk = chunk.select(columns)
                done += chunk.num_rows
                yield chunk
        except (pa.ArrowException, ValueError, OSError) as exc:
            # A CSV's column types are fixed by its first block: a later value that does
            # not fit them fails here, mid-file.
            raise self._unreadable(exc, done) from exc


def rechunk(batches: Iterable[Any], chunk_rows: int) -> Iterator[Any]:
    """Record batches regrouped into tables of exactly ``chunk_rows`` rows (the last one
    shorter): readers cut where they like (row groups, CSV blocks)."""
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


class _Writer:
    """Appends tables to a temporary file beside ``output``; ``commit`` renames it."""

    def __init__(self, output: Path) -> None:
        self.kind = file_format(output)
        if not output.parent.is_dir():
            raise InvalidInput(
                f"cannot write '{output}': folder '{output.parent}' does not exist",
                details={"path": str(output)},
            )
        self.output = output
        self.partial = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")
        self.schema: Any = None
        self._writer: Any = None

    def write(self, table: Any, rows: tuple[int, int]) -> None:
        import pyarrow as pa

        if self._writer is None:
            self.schema = table.schema
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.partial, self.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.partial, self.schema)
        elif table.schema != self.schema:
            try:
                table = table.cast(self.schema)
            except (pa.ArrowException, ValueError) as exc:
                raise InvalidInput(
                    f"rows {rows[0]}-{rows[1] - 1}: the output's columns changed type from "
                    f"the first chunk's ({exc}); one output file needs one type per column",
                    details={"rows": list(rows)},
                ) from exc
        self._writer.write_table(table)

    def commit(self) -> None:
        self._writer.close()
        self._writer = None
        os.replace(self.partial, self.output)

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.partial.unlink(missing_ok=True)


# One loaded model per worker process (or Dask worker), reused for every chunk it scores.
_cached: tuple[str, LoadedModel] | None = None
_cache_lock = threading.Lock()


def worker_model(job: ScoringJob) -> LoadedModel:
    """The model of ``job``, loaded on this process's first chunk of it and kept."""
    global _cached
    with _cache_lock:
        if _cached is None or _cached[0] != job.token:
            _cached = (job.token, load_served(job.config))
        return _cached[1]


def forget_model(job: ScoringJob) -> None:
    """Release the model ``job`` loaded in this process, if it is the one kept."""
    global _cached
    with _cache_lock:
        if _cached is not None and _cached[0] == job.token:
            _cached = None


def prediction_columns(predictions: Any, rows: int, name: str) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame) and len(predictions) == rows:
        if predictions.shape[1] == 1:
            return {name: predictions.iloc[:, 0].to_numpy()}
        return {f"{name}_{c}": predictions[c].to_numpy() for c in predictions.columns}
    array = np.asarray(predictions)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2) or len(array) != rows:
        raise InvalidInput(
            f"the model returned predictions of shape {list(array.shape)} for {rows} rows; "
            "batch scoring writes one value, or one row of values, per input row"
        )
    if array.ndim == 1:
        return {name: array}
    return {f"{name}_{i}": array[:, i] for i in range(array.shape[1])}


def _probabilities(loaded: LoadedModel, frame: pd.DataFrame) -> dict[str, Any]:
    import numpy as np

    predict_proba = getattr(loaded.model, "predict_proba", None)
    if predict_proba is None:
        raise InvalidInput(
            f"--proba needs a classifier with predict_proba; {loaded.name} "
            f"({type(loaded.model).__qualname__}) has none: score without --proba"
        )
    probabilities = np.asarray(predict_proba(loaded.check(frame)))
    classes = getattr(loaded.model, "classes_", None)
    names = range(probabilities.shape[1]) if classes is None else list(classes)
    return {f"proba_{c}": probabilities[:, i] for i, c in enumerate(names)}


def score_chunk(job: ScoringJob, frame: pd.DataFrame, rows: tuple[int, int]) -> dict[str, Any]:
    """Score one chunk (rows ``rows[0]`` to ``rows[1] - 1`` of the input): the output
    columns, by name. Runs on a worker."""
    loaded = worker_model(job)
    try:
        columns = prediction_columns(loaded.predict(frame), len(frame), job.prediction_column)
        if job.proba:
            columns.update(_probabilities(loaded, frame))
    except InvalidInput as exc:
        raise InvalidInput(
            f"rows {rows[0]}-{rows[1] - 1}: {exc.message}",
            details={**exc.details, "rows": list(rows)},
        ) from exc
    except INPUT_ERRORS as exc:
        raise InvalidInput(
            f"rows {rows[0]}-{rows[1] - 1}: the model cannot predict on these rows: "
            f"{type(exc).__name__}: {exc}",
            details={"rows": list(rows)},
        ) from exc
    return columns


def _feature_columns(
    config: WorkerConfig, available: list[str], id_column: str | None
) -> list[str]:
    """The input columns the model is given: its signature's (the check names any that are
    missing), else every column but the id."""
    version = config.version
    signature: dict[str, Any] | None = None if version is None else version.signature
    if signature is None:
        recorded = {} if version is None else {"flavor": version.flavor, "uri": version.uri}
        signature = describe(config.folder, **recorded).signature
    if signature is not None and signature.get("type") == "dataframe":
        wanted = [c["name"] for c in signature["columns"]]
        extra = [c for c in available if c not in wanted and c != id_column]
        if extra:
            log.info("columns not in the model's signature are not scored: %s", extra)
        return [c for c in wanted if c in available]
    return [c for c in available if c != id_column]


def _kept_columns(available: list[str], keep_columns: bool, id_column: str | None) -> list[str]:
    if id_column is not None and id_column not in available:
        raise InvalidInput(
            f"the input has no column '{id_column}' to carry as the id; its columns are "
            f"{', '.join(available)}",
            details={"column": id_column},
        )
    if keep_columns:
        return available
    return [] if id_column is None else [id_column]


def _output_table(kept: Any, columns: dict[str, Any]) -> Any:
    import pyarrow as pa

    clash = sorted(set(kept.column_names) & set(columns))
    if clash:
        raise InvalidInput(
            f"input column(s) {', '.join(repr(c) for c in clash)} would collide with the "
            "prediction columns: choose another name for the predictions (--prediction-column)",
            details={"columns": clash},
        )
    arrays = {name: kept[name] for name in kept.column_names}
    arrays.update((name, pa.array(values)) for name, values in columns.items())
    return pa.table(arrays)


def score_file(
    model_folder: Path,
    version: ModelVersion | None,
    input: Path,
    output: Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    executor: str = "inline",
    prediction_column: str = "prediction",
    proba: bool = False,
    keep_columns: bool = False,
    id_column: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScoreResult:
    """Score every row of ``input`` (Parquet or CSV) with the model in ``model_folder``
    into ``output`` (Parquet or CSV, by extension), ``chunk_rows`` rows at a time.

    ``model_folder`` is a package, a saved model folder, or (with ``version``) a registered
    version's downloaded files. ``executor`` is ``inline``, ``processes[:N]``, ``dask`` (a
    local cluster) or ``dask://host:port``. The output holds the input's columns when
    ``keep_columns``, else only ``id_column`` if given, then ``prediction_column`` (one
    column per output if the model returns several) and, with ``proba``, ``proba_<class>``
    per class. ``on_progress(rows_done, rows_total)`` follows each chunk written;
    ``rows_total`` is None for a CSV input.
    """
    started = time.monotonic()
    parse_executor_spec(executor)  # a bad spec fails before any file is touched
    config = plan_source(model_folder, version)
    if output.resolve() == input.resolve():
        raise InvalidInput(f"'{output}' is the input file: write the predictions elsewhere")
    writer = _Writer(output)
    source = ChunkedInput(input, chunk_rows)
    try:
        job = ScoringJob(config, uuid.uuid4().hex, prediction_column=prediction_column, proba=proba)
        kept = _kept_columns(source.columns, keep_columns, id_column)
        features = _feature_columns(config, source.columns, id_column)
        rows, chunks, name = _run(source, writer, job, executor, kept, features, on_progress)
    finally:
        source.close()
    seconds = time.monotonic() - started
    log.info("scored %d rows of %s in %.1f s", rows, input, seconds)
    return ScoreResult(rows=rows, chunks=chunks, seconds=seconds, output=output, executor=name)


def _run(
    source: ChunkedInput,
    writer: _Writer,
    job: ScoringJob,
    executor: str,
    kept_names: list[str],
    features: list[str],
    on_progress: ProgressCallback | None,
) -> tuple[int, int, str]:
    """Read, score and write every chunk in order: (rows, chunks, executor name)."""
    total = source.rows_total
    done = chunks = 0
    if on_progress is not None:
        on_progress(0, total)
    runner = make_executor(executor)
    log.info("scoring %s into %s on %s", source.path, writer.output, runner.name)
    in_flight: deque[tuple[tuple[int, int], Any, cf.Future[dict[str, Any]]]] = deque()

    def write_oldest() -> None:
        nonlocal done, chunks
        rows, kept, pending = in_flight.popleft()
        writer.write(_output_table(kept, pending.result()), rows)
        done, chunks = rows[1], chunks + 1
        if on_progress is not None:
            on_progress(done, total)

    read = None if len(kept_names) == len(source.columns) else [*kept_names, *features]
    try:
        start = 0
        for chunk in source.chunks(list(dict.fromkeys(read)) if read else None):
            rows = (start, start + chunk.num_rows)
            frame = chunk.select(features).to_pandas()
            scored = runner.submit(score_chunk, job, frame, rows)
            in_flight.append((rows, chunk.select(kept_names), scored))
            start = rows[1]
            # Bounded: the reader waits for the oldest chunk once every slot is taken.
            if len(in_flight) >= runner.slots * IN_FLIGHT_PER_WORKER:
                write_oldest()
        while in_flight:
            write_oldest()
        if chunks == 0:
            raise InvalidInput(f"'{source.path}' has no rows: there is nothing to score")
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    finally:
        runner.close()
        _release(runner, job)
    return done, chunks, runner.name


def _release(runner: Executor, job: ScoringJob) -> None:
    """Drop the model a job loaded into this process (inline scoring keeps it here)."""
    if runner.in_process:
        forget_model(job)
