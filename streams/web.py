"""The worker's HTTP views: readiness, and read-only SQL for `accessdrift query`.

With the embedded engine only one process may open the database folder; while
a worker holds it, `accessdrift query` sends its SQL here.
"""

from collections import Counter
from typing import TYPE_CHECKING, Any

import faust
from faust.web import Request, Response, View

from accessdrift.errors import ClickHouseError, QueryRefused
from streams.settings import Settings

STAGES = {"ingest", "resolver", "identity", "findings", "sink"}

if TYPE_CHECKING:
    from streams.app import SinkExecutor


def register_views(
    app: faust.App, settings: Settings, sink: "SinkExecutor", counts: Counter[str]
) -> None:
    @app.page("/stats/")
    class Stats(View):
        """What the normalizers made of raw records: produced, ignored by rule, dead-lettered."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json(
                {
                    "normalized": {
                        key: value
                        for key, value in sorted(counts.items())
                        if key.count(":") >= 1 and key.split(":", 1)[0] not in STAGES
                    },
                    "stages": {
                        key: value
                        for key, value in sorted(counts.items())
                        if key.split(":", 1)[0] in STAGES
                    },
                }
            )

    @app.page("/ready/")
    class Ready(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            # Which deployment answers: a client of another deployment that finds this
            # worker on its port must not read this one's data.
            return self.json(
                {
                    "ready": True,
                    "deployment": settings.topic_prefix,
                    "app_id": settings.app_id,
                    "clickhouse": settings.clickhouse_display,
                    "database": sink.clickhouse.database,
                }
            )

    @app.page("/query/")
    class Query(View):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            payload = await request.json()
            sql = payload.get("sql") if isinstance(payload, dict) else None
            if not isinstance(sql, str):
                return self.json({"error": 'send {"sql": "SELECT ..."}'}, status=400)
            try:
                result = await sink.run(sink.clickhouse.query, sql)
            except QueryRefused as error:
                return self.json({"error": str(error), "refused": True}, status=403)
            except ClickHouseError as error:
                return self.json({"error": str(error)}, status=400)
            return self.json(
                {
                    "columns": result.columns,
                    "rows": [[_jsonable(value) for value in row] for row in result.rows],
                }
            )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value
