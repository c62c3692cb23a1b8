"""A large raw message is normalized (parsed, redacted) on a thread: the event loop,
and with it every other agent and /live/, goes on meanwhile (issue 23, item 1: one
hostile line must not stall the worker). A small one is normalized in place."""

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import faust

import accessdrift.streams.normalize
from accessdrift.normalizers.registry import normalize_message
from accessdrift.settings import Settings
from accessdrift.streams.normalize import OFF_LOOP_BYTES, register_normalizers
from tests.unit.samples import cloudtrail_record
from tests.unit.test_fan_out import sent

__all__ = ["sent"]  # the fixture: Topic.send captured


async def test_a_large_message_is_normalized_off_the_event_loop(
    tmp_path: Path, sent: list[tuple[str, bytes]]
) -> None:
    threads: list[tuple[int, bool]] = []

    def recording(*args: Any) -> Any:
        threads.append((len(args[1]), threading.current_thread() is threading.main_thread()))
        return normalize_message(*args)

    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    app = faust.App("off-loop-test", store="memory://", datadir=str(tmp_path))
    register_normalizers(app, settings, Counter())
    app.finalize()
    small = json.dumps(cloudtrail_record("e-small", "aws-cli/2.15")).encode()
    large = json.dumps(cloudtrail_record("e-large", "a=b&" * (OFF_LOOP_BYTES // 2))).encode()
    assert len(small) < OFF_LOOP_BYTES < len(large)
    with mock.patch.object(accessdrift.streams.normalize, "normalize_message", recording):
        async with app.agents["normalize_cloudtrail"].test_context() as agent:
            await agent.put(value=small)
            await agent.put(value=large)
            for _ in range(2000):
                if sum(1 for topic, _ in sent if topic == "test.cloud.audit") == 2:
                    break
                await asyncio.sleep(0.005)
    assert threads == [(len(small), True), (len(large), False)]
    assert sum(1 for topic, _ in sent if topic == "test.cloud.audit") == 2
