"""Test data shared by the test modules (kept out of conftest.py: several conftest
modules exist, and importing from "conftest" would pick whichever was loaded first)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
#: A fixed "today" for identifier checks: tests never read the clock.
TODAY = dt.date(2026, 11, 22)


def load_data(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))
