"""Rotate and retire Amazon Chime SDK Voice Connector termination credentials.

Layers, outermost first:
- ``handlers``: one thin Lambda handler per state machine task.
- ``run_input``, ``observation``, ``retirement``, ``audit``: what each task does.
- ``policy``: the pure staleness rules.
- ``chime``, ``ledger``, ``audit_topic``: the only modules that talk to AWS; each takes its client.
"""
