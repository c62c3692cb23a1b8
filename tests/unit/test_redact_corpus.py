"""Secret shapes a dead letter used to keep (issue 23, item 3), and their negatives.

The corpus (tests/fixtures/redact/corpus.jsonl) holds one case a line: a JSON record
or a line of text, the strings that must be gone after redaction and the strings
that must stay (ids, hashes, accessors an analyst follows up with). HR CSV lines are
judged by the header row that travels in the message's ``csv-header`` header."""

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from accessdrift.deadletter import dead_letter_bytes
from accessdrift.redact import REDACTED, is_secret_name, redact_bytes, redact_csv_line, redact_text
from accessdrift.schemas.codec import codec_for
from accessdrift.streams.deadletters import send_dead_letter

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "redact" / "corpus.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_corpus(case: dict[str, Any]) -> None:
    if case["kind"] == "json":
        original = json.dumps(case["input"]).encode()
        redacted = redact_bytes(original)
        json.loads(redacted)  # still the record, readable
    else:
        original = case["input"].encode()
        redacted = redact_bytes(original)
        assert redact_text(case["input"]).encode() == redacted
    for secret in case["gone"]:
        assert secret.encode() not in redacted, (case["case"], secret, redacted)
    for kept in case["kept"]:
        assert kept.encode() in redacted, (case["case"], kept, redacted)
    if case["gone"]:
        assert REDACTED.encode() in redacted
    else:
        assert redacted == original


def test_the_corpus_holds_every_shape_the_issue_names() -> None:
    names = {case["case"] for case in CASES}
    assert {
        "vault-approle-secret-id-response",
        "vault-sys-init",
        "scim-patch-password",
        "entra-modified-password",
        "header-name-value-pairs",
        "header-name-value-api-key",
        "azure-service-bus-connection-string",
        "azure-storage-connection-string",
        "stripe-live-key",
        "identifiers-stay",
    } <= names


@pytest.mark.parametrize(
    "name", ["secret_id", "keys", "keys_base64", "SharedAccessKey", "AccountKey", "sig",
             "recovery_keys_base64", "Ocp-Apim-Subscription-Key"],
)  # fmt: skip
def test_names_the_issue_found_holding_secrets(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["secretId", "SecretId", "secret_id_accessor", "secret_id_ttl", "secret_id_num_uses",
             "SharedAccessKeyName", "AccountName", "keyId", "secret_shares", "secret_threshold"],
)  # fmt: skip
def test_names_beside_them_that_only_name_or_count(name: str) -> None:
    assert not is_secret_name(name)


HEADER = b"employee_id,action,effective_date,temp_password,notes"


@pytest.mark.parametrize(
    "line, gone, kept",
    [
        (b"E100,hire,2026-03-01,Welcome123!,first day", [b"Welcome123!"], [b"E100", b"first day", b"2026-03-01"]),
        (b'"E101","hire","2026-03-01","p,a""ss word","x"', [b'p,a""ss', b"ss word"], [b"E101", b'"x"']),
        # one field too many (an unquoted comma): the secret may have moved right
        (b"E102,hire,2026-03-01,Sec,ret99,note", [b"Sec", b"ret99"], [b"E102", b"2026-03-01"]),
        # one field too few: the secret may have moved left
        (b"E103,hire,Welcome456!,note", [b"Welcome456!"], [b"E103", b"hire"]),
        # a free-text column still passes the text rules
        (b"E104,hire,2026-03-01,,token=hvs.CAESIJlWh2ExampleVaultServiceToken01", [b"hvs.CAESIJ"], [b"E104"]),
    ],
)  # fmt: skip
def test_an_hr_csv_line_is_judged_by_its_header(
    line: bytes, gone: list[bytes], kept: list[bytes]
) -> None:
    for redacted in (redact_csv_line(line, HEADER), redact_bytes(line, csv_header=HEADER)):
        for secret in gone:
            assert secret not in redacted, redacted
        for identifier in kept:
            assert identifier in redacted, redacted


def test_an_hr_csv_line_without_a_secret_column_stays_as_it_was() -> None:
    header = b"\xef\xbb\xbfemployee_id,action,effective_date,password_changed"
    line = b"E1,termination,2026-03-01,2026-02-01"
    assert redact_csv_line(line, header) == line
    # a field short: the secret column may be the third or the fourth, so both go
    assert redact_csv_line(b"E1,hire,Welcome123!,", HEADER) == b"E1,hire,[REDACTED]"


def _letter(**kwargs: Any) -> dict[str, Any]:
    return codec_for("DeadLetter").decode_dict(
        dead_letter_bytes(
            source_topic="raw.hr-csv",
            error="HR action 'hire' is not mapped",
            error_type="validation",
            stage="normalize:hr-csv",
            failed_at=datetime(2026, 3, 1, tzinfo=UTC),
            **kwargs,
        )
    )


def test_the_dead_letter_of_an_hr_csv_line_judges_it_by_the_header() -> None:
    letter = _letter(value=b"E100,hire,2026-03-01,Welcome123!,first day", csv_header=HEADER)
    assert b"Welcome123!" not in letter["value"]
    assert letter["value"] == b"E100,hire,2026-03-01,[REDACTED],first day"


class _Topic:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


@pytest.mark.parametrize(
    "headers",
    [[("csv-header", HEADER)], {"csv-header": HEADER}],
    ids=["pairs", "dict"],
)
async def test_the_worker_passes_the_csv_header_to_the_dead_letter(headers: Any) -> None:
    topic = _Topic()
    message = SimpleNamespace(
        topic="raw.hr-csv",
        partition=0,
        offset=7,
        key=None,
        value=b"E100,hire,2026-03-01,Welcome123!,first day",
        headers=headers,
    )
    await send_dead_letter(
        topic,  # type: ignore[arg-type]
        SimpleNamespace(message=message),  # type: ignore[arg-type]
        ValueError("HR action 'hire' is not mapped"),
        "normalize:hr-csv",
    )
    (sent,) = topic.sent
    letter = codec_for("DeadLetter").decode_dict(sent["value"])
    assert letter["value"] == b"E100,hire,2026-03-01,[REDACTED],first day"
    assert letter["offset"] == 7


class _Producer:
    def __init__(self, settings: Any) -> None:
        self.sent: list[tuple[str, bytes]] = []
        _Producer.last = self

    last: "_Producer"

    def __enter__(self) -> "_Producer":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, topic: str, value: bytes, **kwargs: Any) -> None:
        self.sent.append((topic, value))


def test_replay_redacts_an_oversized_hr_csv_line_by_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessdrift.commands import replay
    from accessdrift.settings import Settings

    monkeypatch.setattr(replay, "ensure_topics", lambda settings: None)
    monkeypatch.setattr(replay, "CheckedProducer", _Producer)
    export = tmp_path / "hr.csv"
    export.write_bytes(HEADER + b"\nE100,hire,2026-03-01,Welcome123!," + b"n" * 2000 + b"\n")
    settings = Settings(data_dir=tmp_path, topic_prefix="test.", max_record_bytes=1024)
    summary = replay.replay_raw(settings, "hr-csv", [str(export)])
    assert summary.dead_lettered == 1
    ((topic, value),) = _Producer.last.sent
    assert topic == "test.drift.deadletter"
    letter = codec_for("DeadLetter").decode_dict(value)
    assert letter["value"] == b"E100,hire,2026-03-01,[REDACTED]," + b"n" * 2000
