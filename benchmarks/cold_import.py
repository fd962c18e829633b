"""Cold-start import time of a handler module, with X-Ray tracing off and on.

Each sample is a fresh interpreter that imports one handler module, as a new Lambda container does; the
environment is what the template gives the functions (POWERTOOLS_TRACE_DISABLED from the Tracing
parameter). Reports the median and the spread over the samples, in milliseconds.

    make bench            # or: .venv/bin/python -m benchmarks.cold_import [samples]
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
HANDLER = "credential_rotation.handlers.delete_credentials"
PROBE = (
    "import time; started = time.perf_counter(); import importlib; importlib.import_module({module!r}); "
    "print((time.perf_counter() - started) * 1000, 'aws_xray_sdk' in __import__('sys').modules)"
)


def sample(tracing: bool) -> tuple[float, bool]:
    environment = os.environ | {
        "PYTHONPATH": str(REPOSITORY / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
        "POWERTOOLS_SERVICE_NAME": "voice-connector-credential-rotation",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # Our own interpreter and probe: nothing untrusted reaches the command line.
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE.format(module=HANDLER)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(output[0]), output[1] == "True"


def main(samples: int = 15) -> None:
    sample(False)  # warm the filesystem cache and the bytecode, as a deployed package has them
    print(f"import {HANDLER}: {samples} fresh interpreters each")
    for tracing in (False, True):
        runs = [sample(tracing) for _ in range(samples)]
        times = sorted(milliseconds for milliseconds, _ in runs)
        xray = {loaded for _, loaded in runs}
        print(
            f"  tracing {'on ' if tracing else 'off'}: median {statistics.median(times):6.1f} ms, "
            f"min {times[0]:6.1f}, max {times[-1]:6.1f}; aws_xray_sdk imported: {sorted(xray)}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
