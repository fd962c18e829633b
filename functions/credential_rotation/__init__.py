"""Rotate and retire Amazon Chime SDK Voice Connector termination credentials.

Layers, outermost first (docs/architecture.md; `make lint` holds the imports to this order):
- ``handlers``: one thin Lambda handler per state machine task, each wearing ``runtime.task.task`` and
  calling one function of ``tasks``.
- ``runtime``: the decorator, tracing, configuration, and ``wiring``, which builds the adapters.
- ``tasks``: what each task does (``starting``, ``run_input``, ``planning``, ``observation``, ``issuing``,
  ``retirement``, ``watching``, ``audit``, ``alerting``, ``publishing``; and the call-record index:
  ``indexing``, ``evidence_reading``), typed against ``ports``.
- ``adapters``: the only modules that talk to AWS (``chime``, ``ledger``, ``secret_store``,
  ``run_records``, ``run_lock``, ``audit_topic``, ``alert_topic``, ``run_metrics``, ``usage_index``,
  ``call_record_store``, ``indexing_queue``, ``connector_health``); each takes its client.
- ``ports``: the ``typing.Protocol`` of each dependency the tasks call.
- ``domain``: pure rules (``policy``, ``rotation_due``, ``current_credential``, ``unmanaged``,
  ``successor``, ``evidence``, ``watch``), what a call detail record says (``call_records``), and the
  documents that cross a boundary (``models``, ``audit_documents``,
  ``ledger_records``, ``secret_versions``, ``record_keys``, ``settings``, ``errors``).
"""
