"""The access ledger's cost in the identity stage's state: bytes per 100k accounts.

Each account has a logged creation, one access key and ``entitlements`` grants (one of
them revoked and granted again); the same organisation without the grants and
without the ledger's fields (event ids, first sightings) is the baseline. Measured
as the state the stage writes (orjson, as the changelog and RocksDB hold it).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.messages import ChangeMessage, IdentityMessage
from accessdrift.core.state import State
from accessdrift.core.timeutil import to_micros

START = datetime(2026, 3, 2, tzinfo=UTC)
LEDGER_FIELDS = ("ev", "ent", "cb", "rb", "since")


def _change(index: int, kind: str, **fields: Any) -> ChangeMessage:
    message: ChangeMessage = {
        "t": "chg",
        "id": f"e-{index}-{kind}-{fields.get('ent', '')}",
        "ts": to_micros(START + timedelta(seconds=index)),
        "sys": "aws",
        "kind": kind,
        "acc": fields.get("acc"),
        "cred": fields.get("cred"),
        "act": kind,
        "ok": True,
        "session": False,
        "by": "aws:111122223333:user/admin",
        "ik": "human",
        "fb": False,
        "s": fields.get("cred") or fields["acc"],
    }
    if "ent" in fields:
        message["ent"] = fields["ent"]
        message["priv"] = None
    return message


def _without_ledger(state: State) -> State:
    stripped = dict(state)
    stripped["acc"] = {
        name: {key: value for key, value in entry.items() if key not in LEDGER_FIELDS}
        for name, entry in state["acc"].items()
    }
    stripped["cred"] = {
        name: {key: value for key, value in entry.items() if key not in LEDGER_FIELDS}
        for name, entry in state["cred"].items()
    }
    return stripped


def ledger_state(accounts: int = 20_000, entitlements: int = 3) -> dict[str, Any]:
    config = DetectionConfig()
    with_ledger = 0
    without = 0
    rows = 0
    for index in range(accounts):
        account = f"aws:111122223333:user/u{index:07d}"
        messages: list[IdentityMessage] = [
            _change(index, "account_created", acc=account),
            _change(index, "credential_created", acc=account, cred=f"aws:AKIAL{index:015d}"),
        ]
        for number in range(entitlements):
            name = f"aws:policy/Policy{number}"
            messages.append(_change(index, "permission_granted", acc=account, ent=name))
        messages.append(
            _change(index + 1, "permission_revoked", acc=account, ent="aws:policy/Policy0")
        )
        messages.append(
            _change(index + 2, "permission_granted", acc=account, ent="aws:policy/Policy0")
        )
        state: State | None = None
        for message in messages:
            state, result = identity.handle(f"E{index}", state, message, 0, 0, config)
            rows += len(result.ledger)
        assert state is not None
        state = {**state, "chg": []}  # the changes go with the lookback; the ledger stays
        with_ledger += len(orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS))
        without += len(orjson.dumps(_without_ledger(state), option=orjson.OPT_NON_STR_KEYS))
    scale = 100_000 / accounts
    return {
        "accounts": accounts,
        "entitlements_per_account": entitlements,
        "state_mb_per_100k_accounts": round(with_ledger * scale / 1024**2, 1),
        "state_mb_per_100k_accounts_without_ledger": round(without * scale / 1024**2, 1),
        "ledger_bytes_per_account": round((with_ledger - without) / accounts, 1),
        "ledger_rows_emitted_per_account": round(rows / accounts, 2),
    }


if __name__ == "__main__":
    print(orjson.dumps(ledger_state(), option=orjson.OPT_INDENT_2).decode())
