"""Faust's end of recovery, in an order that loses no message.

When a rebalance's table recovery is done, Faust (faust-streaming 0.15.3,
``faust/tables/recovery.py``: ``Recovery.on_recovery_completed`` and
``_resume_streams``) resumes the stream partitions, awaits a seek of each to its
committed offset, and only then resumes flow control, which clears every agent's
queue. Flow control is already running by then (recovery resumed it to read the
changelogs), so the fetcher fills the agents' queues while the seek waits on the
broker, and the clear throws those messages away; the consumer's position is
already past them and nothing reads them again. A fault test lost a bundle so: a
worker killed, the survivor took over its resolver partition, and three permission
changes in one bundle never reached their identity (upstream: faust-streaming/faust
issue 596).

Here flow control is resumed (and the queues cleared) before the stream partitions
are, so nothing fetched for them can be cleared. The two methods are Faust's own
with that one change; ``SOURCE_DIGESTS`` pins the Faust code they were copied from,
and a test fails when an upgrade changes it.
"""

import asyncio
import hashlib
import inspect
from typing import Any

from faust.tables.recovery import Recovery

# sha256 of the source of Faust's methods that these replace (faust-streaming 0.15.3).
SOURCE_DIGESTS = {
    "on_recovery_completed": "6ef567acf072e46da3fccbccc6d662371f634f622c3d510972d5df81f70ae3ac",
    "_resume_streams": "d986a6710c1aca98f08c4c723fb3eadc5bf24576ad4eb9da3dd3eecedda2f24e",
}
FAUST_METHODS = {name: getattr(Recovery, name) for name in SOURCE_DIGESTS}
"""Faust's own, kept before they are replaced (``source_digest`` reads them)."""


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Faust's ``Recovery.on_recovery_completed``, flow control resumed first."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callback_coros = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table],
                self.standbys_for_table[table],
            )
        )
        for table in self.tables.values()
    ]
    if callback_coros:
        await asyncio.wait(callback_coros)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id "
            f"{self.app.consumer_generation_id} param {generation_id}"
        )
        return
    # The change: the queues are cleared before the stream partitions fetch again.
    self.app.flow_control.resume()
    consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    if assignment:
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
    self.completed.set()
    self.log.dev("Resume stream partitions")
    consumer.resume_flow()
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def _resume_streams(self: Any, generation_id: int = 0) -> None:
    """Faust's ``Recovery._resume_streams``, flow control resumed first."""
    app = self.app
    consumer = app.consumer
    await app.on_rebalance_complete.send()
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    # The change: the queues are cleared before the stream partitions fetch again.
    app.flow_control.resume()
    if assignment:
        self.log.dev("Resume stream partitions")
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
    else:
        self.log.info("Resuming streams with empty assignment")
    self.completed.set()
    self.log.info("Resuming flow...")
    consumer.resume_flow()
    await app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


def source_digest(method: Any) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


def resume_flow_before_partitions() -> None:
    """Install the two methods on Faust's ``Recovery`` (once per process)."""
    if getattr(Recovery, "_accessdrift_flow_first", False):
        return
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]
    Recovery._resume_streams = _resume_streams  # type: ignore[method-assign]
    Recovery._accessdrift_flow_first = True  # type: ignore[attr-defined]
