"""The offline sandbox: the real state machine and handlers over moto and a Chime SDK Voice emulator.

No AWS account, no Docker, no network. See ``sandbox.session.Sandbox`` for the entry point.
"""
