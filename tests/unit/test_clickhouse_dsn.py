"""The DSN as errors and logs show it: no secret, and never an exception of its own."""

import pytest

from accessdrift.sinks.dsn import safe_dsn


@pytest.mark.parametrize(
    "dsn, shown",
    [
        ("chdb:///var/lib/accessdrift/clickhouse", "chdb:///var/lib/accessdrift/clickhouse"),
        ("http://u:S3cret@ch:8123/db", "http://u:***@ch:8123/db"),
        ("http://u:S3cret@ch:8123/db?password=S3cret", "http://u:***@ch:8123/db?password=***"),
        (
            "https://ch/db?user=u&password=S3cret&compress=1",
            "https://ch/db?user=u&password=***&compress=1",
        ),
        (
            "https://ch/?passwd=a&access_token=b&client_secret=c",
            "https://ch/?passwd=***&access_token=***&client_secret=***",
        ),
        ("https://ch/?pass%77ord=S3cret", "https://ch/?pass%77ord=***"),
        ("http://u:p@ss:w0rd@ch/", "http://u:***@ch/"),  # an @ in the password
        ("http://u@ch/db", "http://u@ch/db"),
        ("http://[::1]:8123/db", "http://[::1]:8123/db"),
        ("chdb:///data/at@home/clickhouse", "chdb:///data/at@home/clickhouse"),
    ],
)
def test_secrets_are_masked(dsn: str, shown: str) -> None:
    assert safe_dsn(dsn) == shown


@pytest.mark.parametrize(
    "dsn, shown",
    [
        ("https://u:S3cret@[::1/db", "https://<unparsable URL>"),
        ("https://u:S3cret@ch:port/db", "https://<unparsable URL>"),
        ("]:S3cret@[", "<unparsable URL>"),
        ("u:S3cret@ch:8123/db", "<unparsable URL>"),
        ("http:u:S3cret@ch/db", "<unparsable URL>"),
    ],
)
def test_an_unparsable_url_is_never_shown_nor_raises(dsn: str, shown: str) -> None:
    assert safe_dsn(dsn) == shown
