"""The offline sandbox: the real state machine and handlers over moto and a Chime SDK Voice emulator.

No AWS account, no Docker, no network. See ``sandbox.session.Sandbox`` for the entry point.
"""

import sys
from pathlib import Path

# The Lambda runtime puts the function's code directory (CodeUri: functions/) on the import path.
_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(0, _FUNCTIONS)
