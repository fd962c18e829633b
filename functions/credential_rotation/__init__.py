"""Rotate and retire Amazon Chime SDK Voice Connector termination credentials.

Layers, outermost first (docs/architecture.md; `make lint` holds the imports to this order):
- ``handlers``: one thin Lambda handler per state machine task, each wearing ``runtime.task.task`` and
  calling one function of ``tasks``.
- ``runtime``: the decorator, tracing, configuration, and ``wiring``, which builds the adapters.
- ``tasks``: what each task does (``starting``, ``run_input``, ``planning``, ``observation``, ``issuing``,
  ``retirement``, ``audit``, ``publishing``), typed against ``ports``.
- ``adapters``: the only modules that talk to AWS (``chime``, ``ledger``, ``secret_store``,
  ``run_records``, ``run_lock``, ``audit_topic``, ``run_metrics``); each takes its client.
- ``ports``: the ``typing.Protocol`` of each dependency the tasks call.
- ``domain``: pure rules (``policy``, ``rotation_due``, ``current_credential``, ``unmanaged``,
  ``successor``) and the documents that cross a boundary (``models``, ``audit_documents``,
  ``ledger_records``, ``secret_versions``, ``record_keys``, ``settings``, ``errors``).
"""
