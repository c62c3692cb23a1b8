"""Faust's end of recovery with flow control resumed before the stream partitions: a
message fetched while the partitions are sought to their committed offsets stays in
its agent's queue (Faust's own order clears it, and nothing reads it again)."""

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
    running, the stream partitions resumed) puts what it fetched in the agent's queue."""

    def __init__(self, queue: FlowControlQueue[str]) -> None:
        self.queue = queue
        self.resumed: set[str] = set()

    def assignment(self) -> set[str]:
        return {"resolve-2", "subjects-changelog-2"}

    def resume_partitions(self, partitions: set[str]) -> None:
        self.resumed |= partitions

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)
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


async def finish(method: Method) -> list[str]:
    flow = FlowControlEvent()
    flow.resume()  # recovery resumed it to read the changelogs
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    self = recovery(queue, flow)
    await method(self, 7)
    assert self.completed.is_set()
    assert self.app.consumer.resumed == {"resolve-2"}, "changelog partitions stay as they are"
    return [queue.get_nowait() for _ in range(queue.qsize())]


@pytest.mark.parametrize("name", ["on_recovery_completed", "_resume_streams"])
def test_a_message_fetched_during_the_seek_is_kept(name: str) -> None:
    method = getattr(faust_recovery, name)
    assert asyncio.run(finish(method)) == ["bundle fetched from resolve-2"]


@pytest.mark.parametrize("name", ["on_recovery_completed", "_resume_streams"])
def test_faust_s_own_order_loses_it(name: str) -> None:
    """The defect, shown on Faust's code: the same message, cleared."""
    assert asyncio.run(finish(FAUST_METHODS[name])) == []


def test_the_worker_s_app_recovers_in_this_order(tmp_path: Path) -> None:
    from faust.tables.recovery import Recovery

    from accessdrift.settings import Settings
    from accessdrift.streams.app import create_app
    from tests.unit.test_agents import RecordingSink

    app = create_app(Settings(data_dir=tmp_path, state_store="memory://"), RecordingSink())  # type: ignore[arg-type]
    assert type(app.tables.recovery).on_recovery_completed is faust_recovery.on_recovery_completed
    assert Recovery._resume_streams is faust_recovery._resume_streams
