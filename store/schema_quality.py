"""The quality desk's tables: dose reported by CT dose reports (TID 10011).

Declared on the one metadata of `store.schema` (which imports this module), so migrations,
the schema test and `create_all` see a single schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.schema import Base, Id, UtcDateTime

# The event_uid of a report's study total, beside the rows of its irradiation events.
TOTAL = ""


class DoseEventRecord(Base):
    """Append-only: the dose a CT dose report gives, one row per irradiation event and one
    for the study's total (`event_uid` empty: the largest CTDIvol and the total DLP).

    Linked to its order through its study (`studies.order_id`, or the accession), so a
    report that arrives before its order links when the order does, as its images do.
    """

    __tablename__ = "dose_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64))  # the dose report's
    event_uid: Mapped[str] = mapped_column(String(64))
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    accession: Mapped[str] = mapped_column(String(64), default="", index=True)
    device: Mapped[str] = mapped_column(String(16), default="")  # the sender's AE title
    study_description: Mapped[str] = mapped_column(String(255), default="")
    protocol: Mapped[str] = mapped_column(String(255), default="")  # the acquisition's
    ctdivol: Mapped[float | None] = mapped_column(Float)  # mGy
    dlp: Mapped[float | None] = mapped_column(Float)  # mGy.cm
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        # A report sent again with other content adds nothing: its first rows stand.
        UniqueConstraint("sop_instance_uid", "event_uid"),
        # The dose figures read a window of study totals by their arrival.
        Index(None, "event_uid", "received_at"),
    )


dose_events = DoseEventRecord.__table__
