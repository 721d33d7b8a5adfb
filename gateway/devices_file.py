"""The devices file: devices registered at start-up, as [devices.AE_TITLE] tables."""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from gateway.contract.registry import explain
from gateway.models.devices import Registration
from gateway.tomlfile import read_toml
from listeners.options import AE_TITLE_RULE, AETitle
from mappers.events import DeviceRegistration

_AE_TITLE: TypeAdapter[str] = TypeAdapter(AETitle)


class DevicesFileError(Exception):
    """The devices file is missing or malformed; the message is one line naming what."""


def load_devices(path: Path) -> dict[str, DeviceRegistration]:
    """AE title -> registration, read from the file with the API's registration model.

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
        try:
            _AE_TITLE.validate_python(ae_title)
        except ValidationError:
            raise DevicesFileError(f"{where}: an AE title has {AE_TITLE_RULE}") from None
        if not isinstance(entry, dict):
            raise DevicesFileError(f"{where}: expected a table of {', '.join(_keys())}")
        try:
            registration = Registration.model_validate(entry)
        except ValidationError as exc:
            raise DevicesFileError(f"{where} {explain(exc, Registration)}") from None
        devices[ae_title] = registration.to_registration()
    return devices


def _keys() -> list[str]:
    return list(Registration.model_fields)
