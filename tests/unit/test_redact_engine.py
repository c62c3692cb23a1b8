"""The redaction engine's shortcuts lose nothing: the question asked before the passes
(one RE2 set: can any of them match?) and the stems that find candidate names."""

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accessdrift import redact
from accessdrift.redact import REDACTED, is_secret_name, redact_text

PIECES = [
    "password",
    "token",
    "key",
    "Secret",
    "=",
    ":",
    '"',
    "'",
    "\\",
    "\\n",
    "\n",
    " ",
    ",",
    "@",
    "://",
    "a",
    "x1",
    "Bearer ",
    "Authorization: ",
    "Cookie:",
    "hvs.",
    "s.",
    "eyJ",
    ".",
    "ghp_",
    "xoxb-",
    "sk_live_",
    "-----BEGIN PRIVATE KEY-----",
    "AIza",
    "Q~",
    "-us1",
    '"name": "X-Api-Key", "value": ',
    "[",
    "{",
    "é",
    "\udcff",
]
RUNS = st.builds(lambda piece, count: piece * count, st.sampled_from(PIECES), st.integers(1, 40))


def all_passes(data: bytes) -> bytes:
    return functools.reduce(lambda text, redactor: redactor(text), redact._REDACTORS, data)


@given(st.lists(RUNS, max_size=12))
@settings(max_examples=400, deadline=None)
def test_asking_first_changes_nothing(runs: list[str]) -> None:
    data = "".join(runs).encode("utf-8", "surrogatepass")
    assert redact._redact_text_bytes(data) == all_passes(data)


@pytest.mark.parametrize(
    "name", sorted({*redact._SECRET_PARTS, *redact._SECRET_NAMES, "secret_id", "api_key",
                    "Private-Key", "client_assertion", "SAMLResponse", "x-amz-signature"}),
)  # fmt: skip
def test_every_secret_name_is_found_in_text(name: str) -> None:
    assert is_secret_name(name)
    for text in (f"{name}=hunter2", f'"{name}": "hunter2"', f"'{name}': 'hunter2'",
                 f'{{\\"{name}\\": \\"hunter2\\"}}', f"?a=1&{name}=hunter2&b=2"):  # fmt: skip
        redacted = redact_text(text)
        assert "hunter2" not in redacted and REDACTED in redacted, text


@pytest.mark.parametrize(
    "text",
    [
        "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.amzn.2 prompt/off command/s3.ls",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "google.iam.admin.v1.CreateServiceAccountKey",
        "iam:CreateAccessKey",
        "/v1/auth/approle/login",
        "secret/data/prod/db",
        "Add service principal credentials",
        "Reset password (self-service)",
    ],
)
def test_user_agents_paths_and_actions_stay_as_they_are(text: str) -> None:
    assert redact_text(text) is text  # not a copy: nothing was asked of the passes
