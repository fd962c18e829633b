"""Shared by the reliability tests: a tally of what they tried, printed at the end of the session."""

from typing import Any

from tests.support.tally import TRIED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        terminalreporter.write_sep("-", "reliability: tried")
        for name, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"{name}: {count}")
