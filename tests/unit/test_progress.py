"""The ingest's progress reports: the records' partitions behind before, the ends after."""

from accessdrift.streams.progress import InputProgress, encode_report, parse_report


def test_before_a_batch_its_partitions_are_behind_at_what_was_forwarded() -> None:
    progress = InputProgress()
    assert progress.before({"CloudAuditEvent|c|0"}) == {"CloudAuditEvent|c|0": (None, False)}
    progress.forwarded("CloudAuditEvent|c|0", 50)
    progress.forwarded("CloudAuditEvent|c|0", 20)  # out of order: the latest stays
    assert progress.before({"CloudAuditEvent|c|0"}) == {"CloudAuditEvent|c|0": (50, False)}
    assert progress.after({"CloudAuditEvent|c|0": True, "DirectoryChange|d|1": False}) == {
        "CloudAuditEvent|c|0": (50, True),
        "DirectoryChange|d|1": (None, False),
    }


def test_reports_round_trip_and_garbage_is_ignored() -> None:
    report = {"a|t|0": (123, True), "b|t|1": (None, False)}
    assert parse_report(encode_report(report)) == report
    for garbage in (b"", b"[]", b'{"a": 1}', b'{"a": []}', b"\xff"):
        assert parse_report(garbage) == {}
