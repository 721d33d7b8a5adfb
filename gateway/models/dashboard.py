"""Request and response models of the dashboard's routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from gateway.models.common import Query

# The longest a stream stays open before the page reconnects (bounds idle proxies' surprises).
MAX_STREAM_SECONDS = 3600


class ModulePath(Query):
    """A script of the dashboard by file name."""

    module: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}\.js$", max_length=44)]


class DashboardConfig(BaseModel):
    """What the page displays by."""

    timezone: str = Field(description="The facility time zone (IANA name).")
    goals: dict[str, float] = Field(
        description="figure/modality/priority/patient_class -> minutes; '*' matches anything."
    )
    secured: bool = Field(description="Whether the API asks for a bearer token.")


class EventsQuery(Query):
    """How long the stream of commits stays open."""

    once: bool = Field(
        False, description="Send the current generation once and close (for probes and tests)."
    )
    seconds: Annotated[int, Field(ge=1, le=MAX_STREAM_SECONDS)] = Field(
        MAX_STREAM_SECONDS,
        description=f"Close the stream after this many seconds, 1-{MAX_STREAM_SECONDS}; the "
        "page reconnects.",
    )
