"""New credentials: a username that says when it was issued, and a password that any SIP stack accepts.

Both come from the ``secrets`` module (the operating system's CSPRNG); tests may pass their own ``choice``.
Passwords use letters and digits only: some SIP stacks and PBX configuration files mishandle quotes,
colons, semicolons and backslashes, and 40 such characters still carry about 238 bits.
"""

import re
import secrets
import string
from collections.abc import Callable, Sequence
from datetime import datetime

# SIP digest puts the username between colons (HA1 = MD5(username:realm:password)), so no colon.
USERNAME_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,32}")
SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 8
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40

Choice = Callable[[Sequence[str]], str]


# The operating system's randomness; tests pass a choice of their own.
SYSTEM_CHOICE: Choice = secrets.choice


def new_username(prefix: str, issued_at: datetime, choice: Choice = SYSTEM_CHOICE) -> str:
    """``<prefix><YYYYMMDD>-<8 random lowercase letters and digits>``, e.g. ``sip-20260105-k3v9q0zt``."""
    if not USERNAME_PREFIX.fullmatch(prefix):
        raise ValueError("the username prefix must be 1-32 US-ASCII letters, digits, '-', '_' or '.'")
    suffix = "".join(choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
    return f"{prefix}{issued_at:%Y%m%d}-{suffix}"


def new_password(choice: Choice = SYSTEM_CHOICE, length: int = PASSWORD_LENGTH) -> str:
    """Random letters and digits, with at least one lowercase letter, one uppercase letter and one digit."""
    if length < 32:
        raise ValueError("a password has at least 32 characters")
    while True:
        password = "".join(choice(PASSWORD_ALPHABET) for _ in range(length))
        # Redrawing (rather than forcing a character class into a position) keeps every accepted password
        # equally likely.
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password
