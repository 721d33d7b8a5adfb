"""The devices file: devices registered at start-up, as [devices.AE_TITLE] tables."""

from __future__ import annotations

from pathlib import Path

from gateway.tomlfile import read_toml
from store.equipment import DeviceRegistration

_KEYS = {"host", "port", "modality", "name", "location", "monitored"}


class DevicesFileError(Exception):
    """The devices file is missing or malformed; the message is one line naming what."""


def load_devices(path: Path) -> dict[str, DeviceRegistration]:
    """AE title -> registration, read from the file.

    Raises:
        DevicesFileError: the file cannot be read, or an entry has an unknown or bad key.
    """
    document = read_toml(path, DevicesFileError, "devices")
    entries = document.get("devices", {})
    if not isinstance(entries, dict):
        raise DevicesFileError(f"{path}: expected [devices.AE_TITLE] tables")
    devices = {}
    for ae_title, entry in entries.items():
        where = f"{path} [devices.{ae_title}]"
        if not 1 <= len(ae_title) <= 16 or "\\" in ae_title:
            raise DevicesFileError(f"{where}: an AE title has 1-16 characters, no backslash")
        if not isinstance(entry, dict) or set(entry) - _KEYS:
            raise DevicesFileError(f"{where}: keys are {', '.join(sorted(_KEYS))}")
        port = entry.get("port")
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise DevicesFileError(f"{where} port: expected 1-65535, got {port!r}")
        devices[ae_title] = DeviceRegistration(
            host=str(entry.get("host", "")),
            port=port,
            modality=str(entry.get("modality", "")),
            name=str(entry.get("name", "")),
            location=str(entry.get("location", "")),
            monitored=bool(entry.get("monitored", False)),
        )
    return devices
