"""The detection core: pure functions over plain data, free of Faust and Kafka.

Two stages, each a function of (state, message) -> (state, outputs):

- ``resolver``: who owns each account and credential. It turns canonical records
  into facts addressed to an identity, and moves facts when a late link or
  creation event changes an owner.
- ``identity``: everything about one identity (its directory changes, accounts,
  credentials, downstream changes and uses), from which the ``detectors`` derive lag rows
  and alerts deterministically, whatever order the facts arrived in.
"""
