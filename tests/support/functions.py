"""Loading a function's handler the way Lambda does: by file path, under its own module name."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py under a unique module name (every handler is app.py)."""
    spec = importlib.util.spec_from_file_location(
        f"billow_function_{name}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
