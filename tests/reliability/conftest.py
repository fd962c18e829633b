"""Shared by the reliability tests: a tally of what they tried, printed at the end of the session."""

from collections import Counter
from typing import Any

# Each test adds what it tried ("inputs tried" and the like), for the reliability report.
TRIED: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        terminalreporter.write_sep("-", "reliability: tried")
        for name, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"{name}: {count}")
