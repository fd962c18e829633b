"""What the reliability tests tried ("inputs tried" and the like), printed at the end of the session by
tests/reliability/conftest.py."""

from collections import Counter

TRIED: Counter[str] = Counter()
