"""The department's devices: registrations, probe sessions, state changes and downtimes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema.base import Base, Id, UtcDateTime


class DeviceRecord(Base):
    """A modality or other DICOM peer, by AE title: learned from traffic or registered."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    station_name: Mapped[str] = mapped_column(String(64), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    manufacturer: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    serial_number: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(128), default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int | None] = mapped_column(Integer)
    monitored: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProbeSessionRecord(Base):
    """A stretch of time the prober watched a device without a gap: what it saw is known."""

    __tablename__ = "probe_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The last probe's time plus the probe interval: the watched time ends there.
    covered_until: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceTransitionRecord(Base):
    """The prober saw a device go down or come back up, when and why (append-only)."""

    __tablename__ = "device_transitions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    state: Mapped[str] = mapped_column(String(8))  # up / down
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(255), default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DowntimeRecord(Base):
    """Downtime an operator declared: planned (excluded from the window) or unplanned."""

    __tablename__ = "downtimes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    planned: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(255), default="")
    ticket: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
