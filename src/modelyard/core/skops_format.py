"""scikit-learn models in the skops format, loaded safely (DESIGN invariant 6).

skops records every type a file would build. Loading trusts scikit-learn, NumPy, SciPy
and builtins, and refuses a file that needs anything else instead of running it. Pipeline
outputs and registered model versions both go through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput

SAFE_ROOTS = ("sklearn.", "numpy.", "scipy.", "builtins.")


def audit(path: Path) -> tuple[list[str], list[str]]:
    """(types the file needs beyond skops' defaults, those of them outside the safe roots)."""
    import skops.io as sio

    try:
        needed: list[str] = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises many kinds of error for a damaged file
        raise InvalidInput(f"'{path.name}' is not a readable skops file ({exc})") from exc
    return needed, [t for t in needed if not t.startswith(SAFE_ROOTS)]


def save(model: Any, path: Path) -> None:
    """Write ``model``; refuse now what loading would refuse later."""
    import skops.io as sio

    sio.dump(model, path)
    _, unsafe = audit(path)
    if unsafe:
        path.unlink()
        raise InvalidInput(
            f"the model contains types outside scikit-learn, NumPy and SciPy "
            f"({', '.join(unsafe)}), which would be refused on load: use the python flavor, "
            "or pass trusted=True and flavor='pickle'",
            details={"types": unsafe},
        )


def load(path: Path) -> Any:
    """Read a model, trusting only scikit-learn, NumPy, SciPy and builtins types."""
    import skops.io as sio

    needed, unsafe = audit(path)
    if unsafe:
        raise InvalidInput(
            f"the model in '{path.name}' contains types outside scikit-learn, NumPy and SciPy "
            f"({', '.join(unsafe)}); refusing to load them",
            details={"types": unsafe},
        )
    try:
        return sio.load(path, trusted=needed)
    except Exception as exc:  # a file that passed the audit but does not load
        raise InvalidInput(f"'{path.name}' could not be loaded with skops ({exc})") from exc
