"""The listeners' options as frozen pydantic models, and the setting types they are built of.

The gateway's settings compose these models as their `[mllp]` and `[dicom]` sections, so a
listener option is declared once. A field's description says what a valid value looks like;
the settings loader quotes it when a value is refused. The before-validators read the forms an
environment variable takes: comma-separated lists, KEY=value tables, "off" for unset.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from mappers.hl7v2.rules import UUID_UID_ROOT

_NONE_WORDS = frozenset({"", "off", "none"})

# DICOM PS3.5 6.2: an AE title is 1-16 characters, no backslash, no control characters, and
# not only spaces (leading and trailing spaces are not significant). The one rule for every
# door that takes an AE title: the settings, the devices file and the HTTP API.
AE_TITLE_PATTERN = r"^ *[^\\\x00-\x20\x7f][^\\\x00-\x1f\x7f]*$"
AE_TITLE_RULE = "1-16 characters without backslash or control characters, not only spaces"


def _no_bool(value: Any) -> Any:
    """Refuse booleans where a number is due (TOML `true` is not 1)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _none_word(value: Any) -> Any:
    """Read "", "off" and "none" (any case) as unset."""
    if isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
        return None
    return value


def comma_list(value: Any) -> Any:
    """Read a comma-separated string (from the environment) as a list; blanks dropped."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def key_value_table(value: Any) -> Any:
    """Read KEY=value,KEY=value (from the environment) as a table.

    Raises:
        ValueError: an item is not KEY=value.
    """
    if not isinstance(value, str):
        return value
    pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("expected KEY=value pairs")
    return {key.strip(): item.strip() for key, item in pairs}


def _pdu_size(value: int) -> int:
    """0 (no limit) or at least 4096 bytes."""
    if value != 0 and value < 4096:
        raise ValueError("out of range")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _ae_title_ok(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not 1 <= len(value) <= 16 or re.fullmatch(AE_TITLE_PATTERN, value) is None:
        raise ValueError(AE_TITLE_RULE)
    return value


# A string that arrives trimmed (TOML and environment values alike).
Text = Annotated[str, BeforeValidator(_strip)]
# Port 0 binds any free port, which the start-up log names (tests read it back from there).
Port = Annotated[
    int, BeforeValidator(_no_bool), Field(ge=0, le=65535, description="a port number 0-65535")
]
# A port that is off unless set (a TLS port of its own).
OptionalPort = Annotated[
    Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=65535)] | None,
    BeforeValidator(_none_word),
    Field(description="a port number 0-65535, or 'off'"),
]
Seconds = Annotated[
    float,
    BeforeValidator(_no_bool),
    AfterValidator(_finite),
    Field(gt=0, description="a number of seconds > 0"),
]
Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, description="an integer >= 1")]
Days = Annotated[
    int, BeforeValidator(_no_bool), Field(ge=0, description="a number of days >= 0 (0 keeps)")
]
Host = Annotated[str, BeforeValidator(_strip), Field(min_length=1, description="a host name")]
Titles = Annotated[tuple[str, ...], BeforeValidator(comma_list)]
OptionalPath = Annotated[Path | None, BeforeValidator(_none_word)]
AETitle = Annotated[
    str,
    Field(min_length=1, max_length=16, pattern=AE_TITLE_PATTERN, description=AE_TITLE_RULE),
    # Checked again to answer with the rule in words rather than the pattern.
    BeforeValidator(_ae_title_ok),
]
# The backlog of pending connections a listening socket keeps (listen(2)).
Backlog = Annotated[
    int, BeforeValidator(_no_bool), Field(ge=1, description="a connection backlog >= 1")
]


class Options(BaseModel):
    """A frozen, strict-keyed section of options."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class MllpOptions(Options):
    """The HL7 v2 MLLP listener."""

    host: Host = "127.0.0.1"
    port: Port = 2575
    max_message_bytes: Annotated[
        int, BeforeValidator(_no_bool), Field(ge=1024, description="a byte count >= 1024")
    ] = 1_048_576
    # Off unless set: engines hold one connection open for days.
    idle_timeout: Annotated[
        Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)] | None,
        BeforeValidator(_none_word),
        Field(description="a number of seconds > 0, or 'off'"),
    ] = None
    read_timeout: Seconds = 30.0  # a half-read frame is dropped
    shutdown_grace: Seconds = 10.0
    listen_backlog: Backlog = 128
    # MLLP over TLS on a port of its own, with the [tls] certificate; off unless set.
    tls_port: OptionalPort = None


class DicomOptions(Options):
    """The DICOM application entity."""

    host: Host = "127.0.0.1"
    port: Port = 11112
    ae_title: Annotated[AETitle, BeforeValidator(_strip)] = "IMAGING_GW"
    # Calling AE titles allowed to associate at all (empty: any); a stranger's association is
    # rejected with "calling AE title not recognised". Per service, further limits (empty: any
    # of the above), answered with status 0x0124 (refused: not authorised).
    calling_aes: Titles = ()
    echo_calling_aes: Titles = ()
    storage_calling_aes: Titles = ()
    mpps_calling_aes: Titles = ()
    worklist_calling_aes: Titles = ()
    ian_calling_aes: Titles = ()  # Instance Availability Notification (the PACS)
    max_associations: Count = 20
    acse_timeout: Seconds = 30.0
    dimse_timeout: Seconds = 60.0
    network_timeout: Seconds = 60.0
    # Largest PDU we receive, in bytes (PS3.8 9.3.1); 0 means no limit.
    max_pdu: Annotated[
        int,
        BeforeValidator(_no_bool),
        AfterValidator(_pdu_size),
        Field(ge=0, description="0 or a byte count >= 4096"),
    ] = 262_144
    # Folder to keep received instances in, as study/series/instance.dcm; off when unset.
    storage_dir: OptionalPath = None
    # Patient Name matching in worklist queries ignores case (PS3.4 C.2.2.2.1 allows it).
    worklist_case_insensitive_names: bool = True
    worklist_max_results: Count = 1000
    # Root of the Study Instance UIDs made for new orders; 2.25 (UUID-derived, PS3.5 B.2)
    # needs no registration.
    uid_root: Annotated[
        str,
        BeforeValidator(_strip),
        Field(
            max_length=40,
            pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
            description="a DICOM UID root of at most 40 characters",
        ),
    ] = UUID_UID_ROOT
    listen_backlog: Backlog = 128
    # DICOM over TLS (PS3.15 Annex B) on a port of its own, with the [tls] certificate.
    tls_port: OptionalPort = None
