"""The device registration: one model for the PUT body and the devices file."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from gateway.models.common import Body
from mappers.events import DeviceRegistration

_NO_NUL = r"^[^\x00]*$"
_MONITORED = "A monitored device needs host and port: it is probed with C-ECHO."


def _integral(value: object) -> object:
    """JSON's 104.0 is the integer 104 (JSON Schema says so too); 104.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(limit: int) -> object:
    return Annotated[str, Field(max_length=limit, pattern=_NO_NUL)]


class Registration(Body):
    """What an operator (or the devices file) says about a device."""

    model_config = Body.model_config | {
        "json_schema_extra": {
            "description": _MONITORED,
            # The one rule across fields, stated so that generators and clients see it.
            "if": {"properties": {"monitored": {"const": True}}, "required": ["monitored"]},
            "then": {
                "required": ["host", "port"],
                "properties": {
                    "host": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "pattern": _NO_NUL,
                    },
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
        }
    }

    host: _text(255) = ""  # type: ignore[valid-type]
    port: Annotated[int, Field(ge=1, le=65535), BeforeValidator(_integral)] | None = None
    modality: _text(16) = ""  # type: ignore[valid-type]
    name: _text(128) = ""  # type: ignore[valid-type]
    location: _text(128) = ""  # type: ignore[valid-type]
    monitored: bool = Field(False, description="Probed with C-ECHO; needs host and port.")

    @model_validator(mode="after")
    def _monitored_needs_address(self) -> Registration:
        if self.monitored and not (self.host and self.port):
            raise ValueError("monitored: a monitored device needs host and port")
        return self

    def to_registration(self) -> DeviceRegistration:
        """The store's value object."""
        return DeviceRegistration(**self.model_dump())
