"""Vendor log formats in, canonical records out: one pure function per format.

A format is one module of this package that declares it as data,
``FORMAT = RawFormat(name=..., summary=..., order=..., unwrap=..., normalize=...)``
(``base.RawFormat``): the registry finds it, and that makes it a ``raw.<name>`` topic,
a ``replay --format`` choice and a worker agent. ``unwrap(document) -> list`` gives the
vendor records inside what a collector sent (a CloudTrail file's ``Records``, an Okta
event hook's events); ``normalize(record, limit, context) -> Normalized`` reads one, with
its message's Kafka headers and the deployment's settings (``base.MessageContext``). A
record either becomes canonical records, is ignored by a documented rule
(``Normalized.ignored`` names the rule), or raises ``RecordError`` with the reason, which
the agent sends to the dead-letter topic. Its samples go in ``tests/fixtures`` and the
real-sample tests (``tests/unit/test_normalizers_real_samples.py``).
"""
