"""A second subgraph that extends the hub's ``Matter``: the service centre's window appointments.

The zone's service centre books each project's visits to the front desk
(窗口预约) in a system of its own; as a subgraph it adds
``Matter.windowAppointments`` by the shared key ``projectCode``, so one query
through the router reads the hub's matter and the appointments together. The
appointments here are derived from the project code (a stand-in for the
booking system), enough to show the composition and the query plan.

Run it beside the hub: ``uvicorn --app-dir deploy/appointments app:app --port 8001``
(deploy/compose.yaml runs it in the hub's image).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import strawberry
from strawberry.asgi import GraphQL

WINDOWS = ("综合受理窗口", "市资规局窗口", "市国动办窗口", "市消防支队窗口", "帮代办窗口")
FIRST_DAY = date(2023, 11, 1)


@strawberry.type(description="A booked visit to a window of the service centre.")
class Appointment:
    window: str
    day: date
    purpose: str


@strawberry.federation.type(keys=["projectCode"], description="A construction project (extended here).")
class Matter:
    project_code: str

    @strawberry.field(description="The project's booked visits to the service centre's windows.")
    def window_appointments(self) -> list[Appointment]:
        digest = hashlib.sha256(self.project_code.encode()).digest()
        return [
            Appointment(
                window=WINDOWS[digest[i] % len(WINDOWS)],
                day=FIRST_DAY + timedelta(days=digest[i + 4] % 60),
                purpose="提交补正材料" if digest[i + 8] % 2 else "领取批文",
            )
            for i in range(1 + digest[12] % 3)
        ]

    @classmethod
    def resolve_reference(cls, **representation: str) -> Matter:
        return cls(project_code=representation["projectCode"])


@strawberry.type
class Query:
    @strawberry.field(description="The service centre's windows that take appointments.")
    def appointment_windows(self) -> list[str]:
        return list(WINDOWS)


schema = strawberry.federation.Schema(query=Query, types=[Matter], federation_version="2.7")
app = GraphQL(schema, graphql_ide=None)
