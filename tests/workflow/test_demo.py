"""`make demo` runs to the end, shows a rotation, and its function logs carry no username or password."""

import io

from sandbox import demo


def test_the_demo_rotates_and_logs_no_secret():
    out = io.StringIO()

    assert demo.main(out) == 0

    text = out.getvalue()
    assert '"Promoted": true' in text
    assert "AWSCURRENT   sip-" in text
    assert "0 with a plain username or a password" in text
