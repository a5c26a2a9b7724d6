"""The distributed mode: everything Kafka and Faust (depends on lifecycle, never the reverse).

Needs the ``[distributed]`` extra; ``lifecycle worker``, ``publish`` and ``topics`` load it
when they run.

- :mod:`streams.app` — the worker's Faust app: topics, thin agents, relay task, timers,
  graceful shutdown
- :mod:`streams.worker` — what one worker process keeps, built from the parts below
- :mod:`streams.engine` — the engine (ingest, policies) in a child process or in-process;
  :mod:`streams.protocol` — the typed messages between the worker and its engine
- :mod:`streams.ingest` — touchpoints from partitions into the event store, exactly once
- :mod:`streams.relay` — the notification log → ``lead-events`` envelopes, at least once
- :mod:`streams.projector` — envelopes → the projection tables, idempotently
- :mod:`streams.leadership` — which worker relays and runs the policies
- :mod:`streams.producer` — the worker's aiokafka producer
- :mod:`streams.batches` — batching a stream's events while the previous batch is handled
- :mod:`streams.transport` — Faust's consumer with a shorter fetch wait and a cheaper
  hand-over
- :mod:`streams.topics` — creating the topics; :mod:`streams.client` — the publisher SDK
"""
