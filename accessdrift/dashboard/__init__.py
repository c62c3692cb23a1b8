"""The worker's built-in dashboard: what the analyst views hold, as one HTML page.

``data`` turns query results into plain dataclasses (no I/O of its own), ``svg``
draws charts as text, ``page`` lays the page out. The worker's view in
``accessdrift/streams/web.py`` is the only part that queries ClickHouse.
"""

from accessdrift.dashboard.data import (
    STATEMENTS,
    DashboardData,
    assemble,
    collect_dashboard,
    collect_dashboard_async,
)
from accessdrift.dashboard.page import render_dashboard

__all__ = [
    "STATEMENTS",
    "DashboardData",
    "assemble",
    "collect_dashboard",
    "collect_dashboard_async",
    "render_dashboard",
]
