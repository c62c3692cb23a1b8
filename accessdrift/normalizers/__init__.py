"""Vendor log formats in, canonical records out: one pure function per format.

Each module has ``unwrap(document) -> list`` (the vendor records inside what a
collector sent: a CloudTrail file's ``Records``, an Okta event hook's events) and
``normalize(record) -> Normalized``. A record either becomes canonical records,
is ignored by a documented rule (``Normalized.ignored`` names the rule), or raises
``RecordError`` with the reason, which the agent sends to the dead-letter topic.
"""
