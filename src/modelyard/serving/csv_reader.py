"""CSV for scoring: a ``text/csv`` request body and a batch scoring file, read alike.

Both go through pyarrow's CSV reader with the same options, so a file scored by
``modelyard score`` and the same rows posted to ``modelyard serve`` read the same values:

- a row with more or fewer fields than the header is refused, naming it: row N counts the
  header as row 1, so it is the line number unless a quoted value spans lines. (pandas'
  ``read_csv``, which the server used before, took the extra leading fields of a longer
  first row as the index, so ``a,b`` then ``0.9,0.8,0.1,0.2`` scored as ``0.1,0.2``, and
  filled a shorter row with NaN: wrong predictions with a 200.)
- the columns a table signature types as strings are read as text, so ``007`` or a date
  stays the string the model was trained on; its float columns are read as float64, which
  spares pyarrow's type inference (most of the time of a one-row body). A value that does
  not convert is read again untyped, so that the signature check names its column.

Single-threaded: only then does pyarrow number the row in its error, and a body is small
enough for one thread (a reader thread per request would also compete with the model).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput

# pyarrow: "CSV parse error: Row #4: Expected 2 columns, got 3: 5,6,7"
_RAGGED = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): ?(.*)", re.DOTALL)
_SHOWN = 80  # characters of a bad row worth quoting


def _options(
    signature: dict[str, Any] | None, block_size: int | None = None, *, typed: bool = False
) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(use_threads=False)
    if block_size is not None:
        read.block_size = block_size
    types = {"string": pa.string(), **({"float": pa.float64()} if typed else {})}
    text = {}
    if signature is not None and signature.get("type") == "dataframe":
        text = {c["name"]: types[c["type"]] for c in signature["columns"] if c["type"] in types}
    return {
        "read_options": read,
        "parse_options": pacsv.ParseOptions(),
        "convert_options": pacsv.ConvertOptions(column_types=text),
    }


def ragged_row(exc: BaseException) -> InvalidInput | None:
    """The error for a row whose field count is not the header's, if ``exc`` is one."""
    match = _RAGGED.search(str(exc))
    if match is None:
        return None
    row, expected, got, text = match.groups()
    text = text.strip()
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return InvalidInput(
        f"row {row} (the header is row 1) has {got} fields for the header's {expected} "
        f"columns ({shown!r}): every row needs one value per column (an empty field for a "
        "missing one)",
        details={"row": int(row)},
    )


def read_body(body: bytes | bytearray, signature: dict[str, Any] | None) -> Any:
    """A CSV request body (a header line, then rows) as a pandas DataFrame."""
    import pyarrow as pa

    if not body.strip():
        raise InvalidInput("the CSV body is empty: send a header line and at least one row")
    import pyarrow.csv as pacsv

    # One block for the whole body: a small body then costs no 1 MiB block of its own.
    block_size = max(len(body) + 1, 1 << 12)
    try:
        try:
            options = _options(signature, block_size, typed=True)
            table = pacsv.read_csv(pa.BufferReader(body), **options)
        except pa.ArrowInvalid as exc:
            if "conversion error" not in str(exc):
                raise
            table = pacsv.read_csv(pa.BufferReader(body), **_options(signature, block_size))
    except (pa.ArrowException, ValueError) as exc:
        ragged = ragged_row(exc)
        if ragged is not None:
            raise ragged from None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"the CSV body does not parse: {message}") from None
    if table.num_rows == 0:
        raise InvalidInput("the CSV body holds no rows: send at least one after the header")
    return table.to_pandas(use_threads=False)


def open_file(path: Path, signature: dict[str, Any] | None = None) -> Any:
    """A streaming reader of the CSV file at ``path`` (``pyarrow.csv.CSVStreamingReader``)."""
    import pyarrow.csv as pacsv

    return pacsv.open_csv(path, **_options(signature))
