"""Read models the fold keeps (DESIGN.md "Read models"): figure rows per order, their counts per
value bucket, the board's state per open order, and volume counts per facility hour."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema.base import Base, UtcDateTime


class OrderFigureRecord(Base):
    """A read model: one row per order per flow figure whose two ends exist (not cancelled),
    kept by the fold in the commit of the milestones behind it."""

    __tablename__ = "order_figures"

    # Derived rows: they go with their order.
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    figure: Mapped[str] = mapped_column(String(32), primary_key=True)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime())
    value_ms: Mapped[int] = mapped_column(BigInteger)
    modality: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    patient_class: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)  # the facility-local date of end_at
    bucket: Mapped[int] = mapped_column(BigInteger)  # store.figure_buckets.value_bucket

    __table_args__ = (
        # The rows of a part day at a window's edge, counted per bucket from the index.
        Index(
            None,
            "figure",
            "end_at",
            postgresql_include=[
                "value_ms",
                "modality",
                "priority",
                "patient_class",
                "device",
                "bucket",
            ],
        ),
        # The values of one bucket in a window, read in order for the ranks it holds; one
        # modality's apart, as most reads group by modality (the others filter the first).
        Index(
            None,
            "figure",
            "bucket",
            "end_at",
            postgresql_include=["value_ms", "modality", "priority", "patient_class", "device"],
        ),
        Index(None, "figure", "modality", "bucket", "end_at", postgresql_include=["value_ms"]),
    )


class FigureCountRecord(Base):
    """A read model: how many figure rows fall in each value bucket, per figure, facility day,
    week from Monday or month (span "day", "week", "month"), modality, priority and patient
    class; kept by the fold with the figure rows, counts added so that processes add up."""

    __tablename__ = "figure_counts"

    span: Mapped[str] = mapped_column(String(8), primary_key=True)  # day, week or month
    start: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    figure: Mapped[str] = mapped_column(String(32), primary_key=True)
    modality: Mapped[str] = mapped_column(String(16), primary_key=True)
    priority: Mapped[str] = mapped_column(String(16), primary_key=True)
    patient_class: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class BoardOrderRecord(Base):
    """A read model: the board state of each open order, its start and its device."""

    __tablename__ = "board_orders"

    # Derived rows: they go with their order.
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))  # store.fold.readmodels.STORED_STATES
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    scheduled_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    modality: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index(None, "state", "since", "order_id"),)


class VolumeHourRecord(Base):
    """A read model: exams ordered, performed, reported, cancelled and not shown per
    facility-local hour (its UTC start), modality and device."""

    __tablename__ = "volume_hours"

    hour_at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    modality: Mapped[str] = mapped_column(String(16), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wall_hour: Mapped[int] = mapped_column(BigInteger)  # local hours since 1970-01-01 00:00
    ordered: Mapped[int] = mapped_column(Integer, default=0)
    performed: Mapped[int] = mapped_column(Integer, default=0)
    reported: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    no_shows: Mapped[int] = mapped_column(Integer, default=0)
