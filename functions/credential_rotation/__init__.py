"""Rotate and retire Amazon Chime SDK Voice Connector termination credentials.

Layers, outermost first:
- ``handlers``: one thin Lambda handler per state machine task, each wearing ``task.task``.
- ``run_input``, ``planning``, ``issuing``, ``retirement``, ``audit``, ``run_lock``: what each task does.
- ``policy``, ``rotation_due``, ``current_credential``, ``unmanaged``, ``successor``: pure rules.
- ``models``, ``audit_documents``: the documents that cross a boundary (task inputs and results, records,
  the audit event and report).
- ``chime``, ``ledger``, ``secret_store``, ``run_records``, ``audit_topic``: the only modules that talk to
  AWS; each takes its client, and ``wiring`` builds them.
"""
