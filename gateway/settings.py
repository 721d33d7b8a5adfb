"""The settings model: one frozen pydantic model per section, composed into `Settings`.

The `[mllp]` and `[dicom]` sections are the listeners' own option models. A field's
description says what a valid value looks like; `gateway.config` quotes it in its errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.outbound_settings import OutboundSettings
from listeners.options import (
    AE_TITLE_PATTERN,
    AETitle,
    Backlog,
    Count,
    Days,
    DicomOptions,
    Host,
    MllpOptions,
    OptionalPath,
    Port,
    Seconds,
    Text,
    comma_list,
    key_value_table,
)
from mappers.events import Milestone, ReportStatus
from mappers.hl7v2.rules import (
    DEFAULT_ACCESSION_FIELDS,
    DEFAULT_ORDER_CONTROL,
    DEFAULT_ORDER_STATUS,
    DEFAULT_RESULT_STATUS,
    DEFAULT_SCHEDULE_STATUS,
    NO_SHOW,
    OrderAction,
)
from store.figures import FIGURES

# HL7 v2 table 0211 names for MSH-18 (HL7 v2.5 section 2.15.9.18) that we can decode.
CHARSETS = frozenset(
    ["ASCII", "UNICODE", "UNICODE UTF-8", "8859/15"] + [f"8859/{n}" for n in range(1, 10)]
)
PROCESSING_IDS = frozenset({"P", "D", "T"})  # HL7 table 0103
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
_LOCATION = re.compile(r"[A-Z][A-Z0-9]{2}-\d+(\.\d+){0,2}")
_MILESTONES = [m.value for m in Milestone]

# Goals for the flow figures (DESIGN.md): "figure/modality/priority/patient_class" -> minutes,
# "*" matching anything; the most specific goal that matches an order applies to it.
DEFAULT_GOALS: Mapping[str, float] = {
    "report_turnaround/*/S/emergency": 60.0,
    "report_turnaround/*/*/emergency": 120.0,
    "report_turnaround/*/*/inpatient": 240.0,
    "report_turnaround/*/*/outpatient": 1440.0,
    "wait/*/*/outpatient": 30.0,
    "access/*/S/*": 60.0,
}


def _check(ok: Callable[[Any], bool]) -> AfterValidator:
    """A validator refusing values for which `ok` is false (the field says what is due)."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise ValueError("not allowed")
        return value

    return AfterValidator(check)


def _is_zone(name: str) -> bool:
    """Tell whether the IANA time zone database knows `name`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _asyncpg_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the asyncpg driver, the only one we ship."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def _code_table(allowed: Iterable[str], what: str) -> Any:
    """A table of site codes to values among `allowed`."""
    allowed = frozenset(allowed)
    return Annotated[
        dict[str, str],
        BeforeValidator(key_value_table),
        _check(lambda table: set(table.values()) <= allowed),
        Field(description=f"a table of codes to {what} ({', '.join(sorted(allowed))})"),
    ]


def _freeze(value: Any) -> Any:
    return frozenset(value.items()) if isinstance(value, dict) else value


class Section(BaseModel):
    """A frozen section; its tables are hashed by their items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __hash__(self) -> int:
        return hash(tuple(_freeze(value) for value in self.__dict__.values()))


class DatabaseSettings(Section):
    """Where the workflow store lives."""

    url: Annotated[
        str,
        AfterValidator(_asyncpg_url),
        _check(lambda url: url.startswith(DATABASE_SCHEMES)),
        Field(description="a URL starting with " + " or ".join(DATABASE_SCHEMES)),
    ] = "sqlite+aiosqlite:///./var/gateway.db"
    migrate_on_start: Annotated[bool, Field(description="true or false (or yes/no, 1/0)")] = True
    # SQLite lock wait and statement timeout for store calls.
    busy_timeout: Seconds = 5.0


class HttpSettings(Section):
    """The REST / FHIR listener."""

    host: Host = "127.0.0.1"
    port: Port = 8080
    # Browser origins allowed to call the API (CORS); empty allows none.
    cors_origins: Annotated[tuple[str, ...], BeforeValidator(comma_list)] = ()
    listen_backlog: Backlog = 128
    # HTTPS on the HTTP port, with the [tls] certificate.
    tls: Annotated[bool, Field(description="true or false (or yes/no, 1/0)")] = False


_Hl7Name = Annotated[
    Text, _check(lambda v: bool(v) and "|" not in v), Field(description="a non-empty HL7 name")
]


class Hl7Settings(Section):
    """HL7 v2 decoding and acknowledgement defaults."""

    default_charset: Annotated[
        Text,
        _check(CHARSETS.__contains__),
        Field(description="one of " + ", ".join(sorted(CHARSETS))),
    ] = "UNICODE UTF-8"
    application: _Hl7Name = "IMAGING_GW"  # our MSH-3 in ACKs
    facility: _Hl7Name = "RADIOLOGY"  # our MSH-4 in ACKs
    accepted_processing_ids: Annotated[
        tuple[str, ...],
        BeforeValidator(comma_list),
        _check(lambda ids: bool(ids) and set(ids) <= PROCESSING_IDS),
        Field(description="a list of processing ids from P, D, T"),
    ] = ("P", "D", "T")
    # Site code tables (DESIGN.md: the mapping from HL7 codes to milestones is data).
    order_control: _code_table([a.value for a in OrderAction], "order actions") = Field(
        default_factory=lambda: dict(DEFAULT_ORDER_CONTROL)
    )
    order_status: _code_table(_MILESTONES, "milestones") = Field(
        default_factory=lambda: dict(DEFAULT_ORDER_STATUS)
    )
    result_status: _code_table([r.value for r in ReportStatus], "report statuses") = Field(
        default_factory=lambda: dict(DEFAULT_RESULT_STATUS)
    )
    schedule_status: _code_table([*_MILESTONES, NO_SHOW], "milestones") = Field(
        default_factory=lambda: dict(DEFAULT_SCHEDULE_STATUS)
    )
    # Where the accession number is read, first non-empty wins; per sender (MSH-3.1) too,
    # as space-separated locations: { EPIC_RAD = "OBR-3 OBR-18" }.
    accession_fields: Annotated[
        tuple[str, ...],
        BeforeValidator(comma_list),
        _check(lambda v: bool(v) and all(_LOCATION.fullmatch(item) for item in v)),
        Field(description="a list of locations like OBR-18"),
    ] = DEFAULT_ACCESSION_FIELDS
    accession_fields_by_sender: Annotated[
        dict[str, str],
        BeforeValidator(key_value_table),
        _check(lambda t: all(_LOCATION.fullmatch(i) for v in t.values() for i in v.split())),
        Field(description="a table of sender to space-separated locations"),
    ] = Field(default_factory=dict)


def _is_goal_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 4 and parts[0] in FIGURES and all(parts)


class FlowSettings(Section):
    """Patient-flow figures."""

    goals: Annotated[
        dict[str, float],
        BeforeValidator(key_value_table),
        _check(lambda t: all(_is_goal_key(k) and v > 0 for k, v in t.items())),
        Field(description="a table of figure/modality/priority/patient_class to minutes > 0"),
    ] = Field(default_factory=lambda: dict(DEFAULT_GOALS))


def _station_lists(value: Any) -> Any:
    """Each entry's titles as a list: from TOML a list (or one title), from the environment
    space-separated (`CT=CT01 CT02,MR=MR01`)."""
    table = key_value_table(value)
    if not isinstance(table, dict):
        return table
    return {key: item.split() if isinstance(item, str) else item for key, item in table.items()}


def _is_station_entry(key: str, titles: tuple[str, ...]) -> bool:
    modality, slash, code = key.partition("/")
    key_ok = bool(modality) and (bool(code) if slash else modality != "*")
    return key_ok and bool(titles) and all(_is_ae_title(title) for title in titles)


def _is_ae_title(title: str) -> bool:
    return 1 <= len(title) <= 16 and re.fullmatch(AE_TITLE_PATTERN, title) is not None


class ReferenceLevelSettings(Section):
    """A diagnostic reference level: CTDIvol in mGy, DLP in mGy.cm; either may be left out."""

    ctdivol: Annotated[float | None, Field(gt=0, description="a number of mGy > 0")] = None
    dlp: Annotated[float | None, Field(gt=0, description="a number of mGy.cm > 0")] = None


def _is_drl_key(key: str) -> bool:
    modality, slash, code = key.partition("/")
    return bool(modality and slash and code)


class DoseSettings(Section):
    """Dose against diagnostic reference levels (`[dose.drl."CT/70450"] ctdivol, dlp`)."""

    drl: Annotated[
        dict[str, ReferenceLevelSettings],
        _check(lambda table: all(_is_drl_key(k) for k in table)),
        Field(description="a table of MODALITY/PROCEDURE_CODE to { ctdivol, dlp }"),
    ] = Field(default_factory=dict)


class WorklistSettings(Section):
    """The Modality Worklist's site tables."""

    # The Scheduled Station AE Titles of orders that name none (no OMI IPC-9, no SIU
    # resource), keyed MODALITY/PROCEDURE_CODE, */PROCEDURE_CODE or MODALITY, the most
    # specific first: { CT = ["CT01", "CT02"], "CT/70450" = ["CT_ED_01"] }.
    stations: Annotated[
        dict[str, tuple[str, ...]],
        BeforeValidator(_station_lists),
        _check(lambda table: all(_is_station_entry(k, v) for k, v in table.items())),
        Field(
            description="a table of MODALITY, MODALITY/CODE or */CODE to lists of AE titles "
            "(1-16 characters each)"
        ),
    ] = Field(default_factory=dict)


class ProbeSettings(Section):
    """The C-ECHO prober."""

    interval: Seconds = 60.0
    failures: Count = 3
    # Seconds one C-ECHO may take (connect, associate, answer) before it counts as failed.
    timeout: Seconds = 5.0


class RetentionSettings(Section):
    """How long the message log keeps what; 0 keeps forever. Workflow rows always stay."""

    raw_days: Days = 90  # message bodies as received
    message_days: Days = 365  # message-log rows
    audit_days: Days = 2190  # audit records (six years)


class IntegritySettings(Section):
    """How long each integrity problem may last before it is a finding."""

    # An order completed (MPPS) or reported with no image this long after is a finding.
    images_after_minutes: Count = 120
    # Images that match no order this long after the first one are a finding.
    unordered_study_after_minutes: Count = 60
    # An MPPS step IN PROGRESS this long is a finding.
    open_step_hours: Count = 12


def _off_when_empty(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
        return None
    return value.strip() if isinstance(value, str) else value


class PacsSettings(Section):
    """The PACS the reconciler asks by STUDY-level C-FIND; off while no host is set."""

    host: Annotated[
        str | None, BeforeValidator(_off_when_empty), Field(description="a host name, or off")
    ] = None
    port: Port = 104
    ae_title: Annotated[
        AETitle, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
    ] = "PACS"
    interval_minutes: Count = 60


class TlsSettings(Section):
    """One certificate and key for every TLS port; a CA file turns on client verification."""

    cert_file: OptionalPath = None
    key_file: OptionalPath = None
    # CA of the client certificates accepted; unset, clients are not asked for one.
    ca_file: OptionalPath = None


class Settings(BaseSettings):
    """Everything the gateway is configured with."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    mllp: MllpOptions = MllpOptions()
    hl7: Hl7Settings = Hl7Settings()
    dicom: DicomOptions = DicomOptions()
    worklist: WorklistSettings = WorklistSettings()
    flow: FlowSettings = FlowSettings()
    dose: DoseSettings = DoseSettings()
    probe: ProbeSettings = ProbeSettings()
    tls: TlsSettings = TlsSettings()
    retention: RetentionSettings = RetentionSettings()
    integrity: IntegritySettings = IntegritySettings()
    pacs: PacsSettings = PacsSettings()
    # [[outbound.hl7]] and [[outbound.webhooks]] destinations (gateway/outbound_settings.py).
    outbound: OutboundSettings = OutboundSettings()
    # HL7 times without an offset are read in this zone.
    timezone: Annotated[Text, _check(_is_zone), Field(description="an IANA time zone name")] = "UTC"
    log_level: Annotated[
        str,
        BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
        _check(LOG_LEVELS.__contains__),
        Field(description="one of " + ", ".join(LOG_LEVELS)),
    ] = "INFO"
    tokens_file: OptionalPath = None
    # Devices registered at start-up (TOML [devices.AE_TITLE] tables: host, port, modality,
    # name, location, monitored); PUT /api/v1/devices/{ae_title} changes them later.
    devices_file: OptionalPath = None

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    @property
    def tz(self) -> ZoneInfo:
        """The facility time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what `gateway.config.load_settings` passes: nothing else reads the environment."""
        return (init_settings,)


SECTIONS: dict[str, type[BaseModel]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
}
