"""The running worker's HTTP views, for the CLI, the demo, the benchmarks and the tests."""

import json
import urllib.request
from typing import Any


class WorkerClient:
    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=self.timeout) as response:
            return json.load(response)

    def post_query(self, sql: str) -> dict[str, Any]:
        """``{"columns": [...], "rows": [[...]]}``; HTTP errors are raised as they come."""
        request = urllib.request.Request(
            f"{self.base_url}/query/",
            data=json.dumps({"sql": sql}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload: dict[str, Any] = json.load(response)
        return payload

    def query(self, sql: str) -> list[dict[str, Any]]:
        payload = self.post_query(sql)
        return [dict(zip(payload["columns"], row, strict=True)) for row in payload["rows"]]

    def stages(self) -> dict[str, int]:
        return dict(self.get("/stats/")["stages"])

    def normalized(self) -> dict[str, int]:
        return dict(self.get("/stats/")["normalized"])
