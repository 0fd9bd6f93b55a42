"""Unit-test settings.

Hypothesis keeps no example database, and its caches (constants, unicode data) go to the
system temp directory instead of a .hypothesis/ folder in the repository.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "billow-unit-hypothesis")

settings.register_profile(
    "unit",
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("unit")
