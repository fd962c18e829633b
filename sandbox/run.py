"""`make run EVENT=events/<file>.json`: one input file, run in the sandbox against the demo's fleet.

The fleet's credentials are dated 100 days ago, so a real run has something to delete. Voice connector
ids in the file that the sandbox does not have are reported as NotFound, as the real service would.
"""

import json
import sys
from pathlib import Path

from sandbox.demo import FLEET, PARAMETERS
from sandbox.report import print_run
from sandbox.session import Sandbox


def main(arguments: list[str]) -> int:
    if len(arguments) != 1:
        sys.stderr.write("usage: python -m sandbox.run events/<file>.json\n")
        return 2
    execution_input = json.loads(Path(arguments[0]).read_text())
    with Sandbox(parameters=PARAMETERS) as sandbox:
        for name, usernames in FLEET.items():
            connector_id = sandbox.create_voice_connector(name, usernames)
            sys.stdout.write(f"{name:<11} {connector_id}  {', '.join(usernames)}\n")
        sandbox.fire_schedule()
        sandbox.audit_messages()
        sandbox.travel(days=100)
        execution = sandbox.run(execution_input)
        print_run(sys.stdout, arguments[0], execution, sandbox.audit_messages(), sandbox.retry_clock.waits)
    return 0 if execution.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
