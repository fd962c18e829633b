"""How a refusal names the keys of an input document: the execution input (tasks/run_input.py) and its
Targets (targets.py) name their keys, and an unknown one, the same way."""

import re
from collections.abc import Iterable
from difflib import get_close_matches

# Problems named in one refusal: an input may carry thousands (unknown keys), and the message must stay
# readable and within the 32,768 characters Step Functions keeps of an error's cause.
MAX_PROBLEMS = 10
# An unknown key is named as it is only when it is a plain name. Any other key (empty, a homoglyph of a
# field, a control or bidi character, brackets) is quoted with its non-ASCII characters escaped, so that
# the message neither hides it nor passes it off as a real field; a long one is cut.
PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_KEY_CHARACTERS = 64


def key_label(key: str) -> str:
    """How a refusal names an input key."""
    if PLAIN_KEY.fullmatch(key):
        return key
    if len(key) > MAX_KEY_CHARACTERS:
        return f"{key[:MAX_KEY_CHARACTERS]!a} (cut)"
    return ascii(key)


def did_you_mean(key: str, field_names: Iterable[str]) -> str:
    """ " (did you mean X?)" for the field an unknown key most looks like, else nothing."""
    if len(key) > MAX_KEY_CHARACTERS:
        return ""
    fields = {name.casefold(): name for name in field_names}
    close = get_close_matches(key.strip().casefold(), fields, n=1, cutoff=0.8)
    return f" (did you mean {fields[close[0]]}?)" if close else ""
