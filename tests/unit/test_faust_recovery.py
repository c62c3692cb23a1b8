"""Faust's end of recovery with flow control resumed first and the stream partitions
resumed after their seek: nothing fetched for them is cleared (Faust's own order
clears what was fetched during the seek, and nothing reads it again)."""

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from accessdrift.streams import faust_recovery
from accessdrift.streams.faust_recovery import FAUST_METHODS, SOURCE_DIGESTS, source_digest

Method = Callable[..., Coroutine[Any, Any, None]]


def test_the_replaced_faust_methods_are_the_ones_installed() -> None:
    """An upgrade of faust-streaming that changes either method fails here: read the new
    code, carry the fix over (or drop it if upstream fixed the order), update the digest."""
    assert {name: source_digest(method) for name, method in FAUST_METHODS.items()} == (
        SOURCE_DIGESTS
    )


class Consumer:
    """Its seek takes a round trip to the broker, during which the fetcher (flow control
    running) puts in the agent's queue what it fetched for the stream partitions that
    are resumed by then."""

    def __init__(self, queue: FlowControlQueue[str]) -> None:
        self.queue = queue
        self.resumed: set[str] = set()
        self.resumed_during_seek: set[str] = set()

    def assignment(self) -> set[str]:
        return {"resolve-2", "subjects-changelog-2"}

    def resume_partitions(self, partitions: set[str]) -> None:
        self.resumed |= partitions

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)
        self.resumed_during_seek = set(self.resumed)
        for tp in sorted(self.resumed):
            self.queue.put_nowait(f"bundle fetched from {tp}")

    def resume_flow(self) -> None:
        pass


def recovery(queue: FlowControlQueue[str], flow: FlowControlEvent) -> Any:
    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    async def wait(coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        await coroutine

    app = SimpleNamespace(
        consumer=Consumer(queue),
        consumer_generation_id=7,
        flow_control=flow,
        on_rebalance_complete=SimpleNamespace(send=nothing),
        conf=SimpleNamespace(broker_request_timeout=30.0),
        _fetcher=SimpleNamespace(maybe_start=nothing),
        assignor=SimpleNamespace(assigned_standbys=lambda: set()),
        on_rebalance_end=lambda: None,
    )
    log = SimpleNamespace(info=print, warning=print, dev=print)
    tables = SimpleNamespace(
        values=lambda: [], on_actives_ready=lambda: None, on_standbys_ready=lambda: None
    )
    return SimpleNamespace(
        app=app,
        log=log,
        tables=tables,
        actives_for_table={},
        standbys_for_table={},
        completed=asyncio.Event(),
        _set_recovery_ended=lambda: None,
        _is_changelog_tp=lambda tp: "changelog" in tp,
        _wait=wait,
    )


async def finish(method: Method) -> tuple[Any, list[str]]:
    flow = FlowControlEvent()
    flow.resume()  # recovery resumed it to read the changelogs
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait("a standby's changelog record, fetched during recovery")
    self = recovery(queue, flow)
    await method(self, 7)
    assert self.completed.is_set()
    assert self.app.consumer.resumed == {"resolve-2"}, "changelog partitions stay as they are"
    return self.app.consumer, [queue.get_nowait() for _ in range(queue.qsize())]


@pytest.mark.parametrize("name", ["on_recovery_completed", "_resume_streams"])
def test_the_stream_partitions_resume_after_their_seek_and_nothing_is_cleared(
    name: str,
) -> None:
    consumer, queued = asyncio.run(finish(getattr(faust_recovery, name)))
    assert consumer.resumed_during_seek == set(), "nothing fetched from before the seek"
    assert queued == ["a standby's changelog record, fetched during recovery"]


@pytest.mark.parametrize("name", ["on_recovery_completed", "_resume_streams"])
def test_faust_s_own_order_loses_what_was_fetched_during_the_seek(name: str) -> None:
    """The defect, shown on Faust's code: the bundle fetched during the seek (and the
    standby's record) cleared after it."""
    consumer, queued = asyncio.run(finish(FAUST_METHODS[name]))
    assert consumer.resumed_during_seek == {"resolve-2"}
    assert queued == []


def test_flow_control_already_running_is_not_resumed_again() -> None:
    flow = FlowControlEvent()
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.suspend()  # a revoke
    queue.put_nowait("from before the rebalance")
    faust_recovery.resume_flow_control(flow)
    assert flow.is_active() and queue.qsize() == 0, "resumed, and cleared as Faust does"
    queue.put_nowait("fetched since")
    faust_recovery.resume_flow_control(flow)
    assert queue.qsize() == 1


def test_the_worker_s_app_recovers_in_this_order(tmp_path: Path) -> None:
    from faust.tables.recovery import Recovery

    from accessdrift.settings import Settings
    from accessdrift.streams.app import create_app
    from tests.unit.test_agents import RecordingSink

    app = create_app(Settings(data_dir=tmp_path, state_store="memory://"), RecordingSink())  # type: ignore[arg-type]
    assert type(app.tables.recovery).on_recovery_completed is faust_recovery.on_recovery_completed
    assert Recovery._resume_streams is faust_recovery._resume_streams
