"""What the detector writes beside its findings: deprovision pairs and ownership.

A leaver's account is a pair from the moment the detector knows of it, open until
its deprovision is seen; every account and key gets an ownership row naming the
identity and the claim, or none (uncorrelated). Positive and negative samples side
by side.
"""

from tests.unit.core_builders import ALICE, ALICE_AWS, ALICE_KEY, admin, cloud, directory, link, use
from tests.unit.test_detection import HOUR, run


def test_a_leavers_account_is_an_open_pair_until_it_is_disabled_then_closed_within_sla() -> None:
    opened = run([directory(0, "joiner", accounts=[ALICE_AWS]), directory(HOUR, "leaver")])
    (pair,) = opened.findings.pairs.values()
    assert (pair["status"], pair["account_id"], pair["within_sla"]) == ("open", ALICE_AWS, None)
    assert pair["sla_seconds"] == 24 * HOUR
    assert (pair["due_at"] - pair["source_time"]).total_seconds() == 24 * HOUR
    assert opened.findings.lags == {} or all(
        row["change_type"] != "leaver" for row in opened.findings.lags.values()
    )

    closed = run(
        [
            directory(0, "joiner", accounts=[ALICE_AWS]),
            directory(HOUR, "leaver"),
            admin(2 * HOUR, "account_disabled", "DeleteLoginProfile"),
        ]
    )
    (pair,) = closed.findings.pairs.values()
    assert (pair["status"], pair["within_sla"], pair["lag_seconds"]) == ("closed", True, HOUR)
    assert pair["lag_id"] in closed.findings.lags


def test_a_pair_past_its_sla_is_overdue_and_a_late_close_is_not_within_it() -> None:
    late = run(
        [
            directory(0, "joiner", accounts=[ALICE_AWS]),
            directory(HOUR, "leaver"),
            admin(30 * HOUR, "account_disabled", "DeleteLoginProfile"),
        ]
    )
    (pair,) = late.findings.pairs.values()
    assert (pair["status"], pair["within_sla"]) == ("closed", False)
    overdue = run(
        [directory(0, "joiner", accounts=[ALICE_AWS]), directory(HOUR, "leaver")], tick_at=30 * HOUR
    )
    (pair,) = overdue.findings.pairs.values()
    assert pair["status"] == "overdue"


def test_joiners_and_movers_are_no_deprovision_pairs() -> None:
    engine = run(
        [
            directory(0, "joiner", accounts=[ALICE_AWS]),
            admin(60, "account_created", "CreateUser"),
            directory(HOUR, "mover"),
        ]
    )
    assert engine.findings.pairs == {}
    assert engine.findings.lags


def test_ownership_names_the_identity_and_the_claim_of_each_account_and_key() -> None:
    engine = run(
        [
            link(0, ALICE, account=ALICE_AWS),
            cloud(
                10,
                "credential_created",
                ALICE_AWS,
                None,
                "CreateAccessKey",
                target_credential=ALICE_KEY,
            ),
            use(20),
        ]
    )
    account = engine.findings.ownership[ALICE_AWS]
    key = engine.findings.ownership[ALICE_KEY]
    assert (account["identity_id"], account["correlated"], account["claim"]) == (
        ALICE,
        True,
        "link",
    )
    assert (account["subject_kind"], account["claim_source"]) == ("account", "inventory")
    assert (key["identity_id"], key["claim"], key["parent_id"]) == (ALICE, "created", ALICE_AWS)
    assert key["subject_kind"] == "credential"


def test_an_account_no_identity_claims_is_uncorrelated_until_a_link_arrives() -> None:
    stranger = "aws:111122223333:user/stranger"
    unlinked = run([use(0, account=stranger, credential=None)])
    row = unlinked.findings.ownership[stranger]
    assert (row["correlated"], row["claim"], row["identity_id"]) == (False, "none", stranger)

    linked = run([use(0, account=stranger, credential=None), link(10, ALICE, account=stranger)])
    row = linked.findings.ownership[stranger]
    assert (row["correlated"], row["claim"], row["identity_id"]) == (True, "link", ALICE)
