"""Settings: defaults, then a TOML file, then IMAGING_GW_* variables; built once and frozen."""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mappers.events import Milestone, ReportStatus
from mappers.hl7v2.rules import (
    DEFAULT_ACCESSION_FIELDS,
    DEFAULT_ORDER_CONTROL,
    DEFAULT_ORDER_STATUS,
    DEFAULT_RESULT_STATUS,
    DEFAULT_SCHEDULE_STATUS,
    NO_SHOW,
    UUID_UID_ROOT,
    OrderAction,
)
from store.figures import FIGURES

PREFIX = "IMAGING_GW_"
CONFIG_VARIABLE = "IMAGING_GW_CONFIG"
TEST_PREFIX = "IMAGING_GW_TEST_"  # reserved for the test suite, never read here
DEFAULT_FILE = Path("gateway.toml")

# HL7 v2 table 0211 names for MSH-18 (HL7 v2.5 section 2.15.9.18) that we can decode.
CHARSETS = frozenset(
    ["ASCII", "UNICODE", "UNICODE UTF-8", "8859/15"] + [f"8859/{n}" for n in range(1, 10)]
)
PROCESSING_IDS = frozenset({"P", "D", "T"})  # HL7 table 0103
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_NONE_WORDS = frozenset({"", "off", "none"})


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message is one line naming it."""


def _rule(
    expect: str, ok: Callable[[Any], bool], fix: Callable[[Any], Any] | None = None
) -> Mapping[str, Any]:
    """Field metadata: what a valid value looks like, a test for it, an optional rewrite."""
    return {"expect": expect, "ok": ok, "fix": fix}


def _is_zone(name: str) -> bool:
    """Tell whether the IANA time zone database knows `name`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _rewrite_postgres(url: str) -> str:
    """Point plain PostgreSQL URLs at the asyncpg driver, the only one we ship."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


# Port 0 binds any free port, which the start-up log names (tests read it back from there).
_PORT = _rule("a port number 0-65535", lambda v: 0 <= v <= 65535)
_SECONDS = _rule("a number of seconds > 0", lambda v: v > 0)
_HOST = _rule("a host name or address", lambda v: bool(v.strip()))
_URL = _rule(
    "a URL starting with " + " or ".join(DATABASE_SCHEMES),
    lambda v: v.startswith(DATABASE_SCHEMES),
    _rewrite_postgres,
)
_OPTIONAL_PORT = _rule("a port number 0-65535, or 'off'", lambda v: v is None or 0 <= v <= 65535)
_BACKLOG = _rule("an integer >= 1", lambda v: v >= 1)
_APP_NAME = _rule("a non-empty HL7 name", lambda v: bool(v.strip()) and "|" not in v)


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the workflow store lives."""

    url: str = field(default="sqlite+aiosqlite:///./var/gateway.db", metadata=_URL)
    migrate_on_start: bool = True
    # SQLite lock wait and statement timeout for store calls.
    busy_timeout: float = field(default=5.0, metadata=_SECONDS)


@dataclass(frozen=True)
class HttpSettings:
    """The REST / FHIR listener."""

    host: str = field(default="127.0.0.1", metadata=_HOST)
    port: int = field(default=8080, metadata=_PORT)
    # Browser origins allowed to call the API (CORS); empty allows none.
    cors_origins: tuple[str, ...] = ()
    # Connections the kernel queues before they are accepted (listen(2) backlog).
    listen_backlog: int = field(default=128, metadata=_BACKLOG)
    # HTTPS on the HTTP port, with the [tls] certificate.
    tls: bool = False


@dataclass(frozen=True)
class MllpSettings:
    """The HL7 v2 MLLP listener."""

    host: str = field(default="127.0.0.1", metadata=_HOST)
    port: int = field(default=2575, metadata=_PORT)
    max_message_bytes: int = field(
        default=1_048_576, metadata=_rule("a byte count >= 1024", lambda v: v >= 1024)
    )
    # Off unless set: engines hold one connection open for days.
    idle_timeout: float | None = field(
        default=None,
        metadata=_rule("a number of seconds > 0, or 'off'", lambda v: v is None or v > 0),
    )
    read_timeout: float = field(default=30.0, metadata=_SECONDS)  # a half-read frame is dropped
    shutdown_grace: float = field(default=10.0, metadata=_SECONDS)
    # Connections the kernel queues before they are accepted (listen(2) backlog).
    listen_backlog: int = field(default=128, metadata=_BACKLOG)
    # MLLP over TLS on a port of its own, with the [tls] certificate; off unless set.
    tls_port: int | None = field(default=None, metadata=_OPTIONAL_PORT)


def _table(default: Mapping[str, str], allowed: Iterable[str], what: str) -> Any:
    """A code table field: keys are site codes, values must be among `allowed`."""
    allowed = frozenset(allowed)
    return field(
        default_factory=lambda: dict(default),
        hash=False,
        metadata=_rule(
            f"a table of codes to {what} ({', '.join(sorted(allowed))})",
            lambda table: all(value in allowed for value in table.values()),
        ),
    )


def _is_location_list(text: str) -> bool:
    return all(_LOCATION.fullmatch(item) for item in text.split())


_LOCATION = re.compile(r"[A-Z][A-Z0-9]{2}-\d+(\.\d+){0,2}")
_MILESTONES = [m.value for m in Milestone]


@dataclass(frozen=True)
class Hl7Settings:
    """HL7 v2 decoding and acknowledgement defaults."""

    default_charset: str = field(
        default="UNICODE UTF-8",
        metadata=_rule("one of " + ", ".join(sorted(CHARSETS)), lambda v: v in CHARSETS),
    )
    application: str = field(default="IMAGING_GW", metadata=_APP_NAME)  # our MSH-3 in ACKs
    facility: str = field(default="RADIOLOGY", metadata=_APP_NAME)  # our MSH-4 in ACKs
    accepted_processing_ids: tuple[str, ...] = field(
        default=("P", "D", "T"),
        metadata=_rule(
            "a list of processing ids from P, D, T", lambda v: bool(v) and set(v) <= PROCESSING_IDS
        ),
    )
    # Site code tables (DESIGN.md: the mapping from HL7 codes to milestones is data).
    order_control: dict[str, str] = _table(
        DEFAULT_ORDER_CONTROL, [a.value for a in OrderAction], "order actions"
    )
    order_status: dict[str, str] = _table(DEFAULT_ORDER_STATUS, _MILESTONES, "milestones")
    result_status: dict[str, str] = _table(
        DEFAULT_RESULT_STATUS, [r.value for r in ReportStatus], "report statuses"
    )
    schedule_status: dict[str, str] = _table(
        DEFAULT_SCHEDULE_STATUS, [*_MILESTONES, NO_SHOW], "milestones"
    )
    # Where the accession number is read, first non-empty wins; per sender (MSH-3.1) too,
    # as space-separated locations: { EPIC_RAD = "OBR-3 OBR-18" }.
    accession_fields: tuple[str, ...] = field(
        default=DEFAULT_ACCESSION_FIELDS,
        metadata=_rule(
            "a list of locations like OBR-18",
            lambda v: bool(v) and all(_LOCATION.fullmatch(item) for item in v),
        ),
    )
    accession_fields_by_sender: dict[str, str] = field(
        default_factory=dict,
        hash=False,
        metadata=_rule(
            "a table of sender to space-separated locations",
            lambda table: all(_is_location_list(v) for v in table.values()),
        ),
    )


@dataclass(frozen=True)
class DicomSettings:
    """The DICOM application entity."""

    host: str = field(default="127.0.0.1", metadata=_HOST)
    port: int = field(default=11112, metadata=_PORT)
    # DICOM PS3.5 6.2: an AE title is 1-16 characters, no backslash, no control characters.
    ae_title: str = field(
        default="IMAGING_GW",
        metadata=_rule(
            "1-16 characters without backslash or control characters",
            lambda v: re.fullmatch(r"[^\\\x00-\x1f\x7f]{1,16}", v) is not None and bool(v.strip()),
        ),
    )
    # Calling AE titles allowed to associate at all (empty: any); a stranger's association is
    # rejected with "calling AE title not recognised". Per service, further limits (empty: any
    # of the above), answered with status 0x0124 (refused: not authorised).
    calling_aes: tuple[str, ...] = ()
    echo_calling_aes: tuple[str, ...] = ()
    storage_calling_aes: tuple[str, ...] = ()
    mpps_calling_aes: tuple[str, ...] = ()
    worklist_calling_aes: tuple[str, ...] = ()
    max_associations: int = field(default=20, metadata=_rule("an integer >= 1", lambda v: v >= 1))
    # Connections the kernel queues before they are accepted (listen(2) backlog).
    listen_backlog: int = field(default=128, metadata=_BACKLOG)
    # DICOM over TLS (PS3.15 Annex B) on a port of its own, with the [tls] certificate.
    tls_port: int | None = field(default=None, metadata=_OPTIONAL_PORT)
    acse_timeout: float = field(default=30.0, metadata=_SECONDS)
    dimse_timeout: float = field(default=60.0, metadata=_SECONDS)
    network_timeout: float = field(default=60.0, metadata=_SECONDS)
    # Largest PDU we receive, in bytes (PS3.8 9.3.1); 0 means no limit.
    max_pdu: int = field(
        default=262_144, metadata=_rule("0 or a byte count >= 4096", lambda v: v == 0 or v >= 4096)
    )
    # Folder to keep received instances in, as study/series/instance.dcm; off when unset.
    storage_dir: Path | None = None
    # Patient Name matching in worklist queries ignores case (PS3.4 C.2.2.2.1 allows it).
    worklist_case_insensitive_names: bool = True
    worklist_max_results: int = field(
        default=1000, metadata=_rule("an integer >= 1", lambda v: v >= 1)
    )
    # Root of the Study Instance UIDs made for new orders; 2.25 (UUID-derived, PS3.5 B.2)
    # needs no registration.
    uid_root: str = field(
        default=UUID_UID_ROOT,
        metadata=_rule(
            "a DICOM UID root of at most 40 characters",
            lambda v: len(v) <= 40 and re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", v) is not None,
        ),
    )


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


def _is_goal_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 4 and parts[0] in FIGURES and all(parts)


@dataclass(frozen=True)
class FlowSettings:
    """Patient-flow figures."""

    goals: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_GOALS),
        hash=False,
        metadata=_rule(
            "a table of figure/modality/priority/patient_class to minutes > 0",
            lambda table: all(_is_goal_key(k) and v > 0 for k, v in table.items()),
        ),
    )


@dataclass(frozen=True)
class TlsSettings:
    """One certificate and key for every TLS port; a CA file turns on client verification."""

    cert_file: Path | None = None
    key_file: Path | None = None
    # CA of the client certificates accepted; unset, clients are not asked for one.
    ca_file: Path | None = None


@dataclass(frozen=True)
class ProbeSettings:
    """The C-ECHO prober."""

    interval: float = field(default=60.0, metadata=_SECONDS)
    failures: int = field(default=3, metadata=_rule("an integer >= 1", lambda v: v >= 1))
    # Seconds one C-ECHO may take (connect, associate, answer) before it counts as failed.
    timeout: float = field(default=5.0, metadata=_SECONDS)


@dataclass(frozen=True)
class Settings:
    """Everything the gateway is configured with."""

    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    mllp: MllpSettings = MllpSettings()
    hl7: Hl7Settings = Hl7Settings()
    dicom: DicomSettings = DicomSettings()
    flow: FlowSettings = FlowSettings()
    probe: ProbeSettings = ProbeSettings()
    tls: TlsSettings = TlsSettings()
    # HL7 times without an offset are read in this zone.
    timezone: str = field(default="UTC", metadata=_rule("an IANA time zone name", _is_zone))
    log_level: str = field(
        default="INFO",
        metadata=_rule("one of " + ", ".join(LOG_LEVELS), LOG_LEVELS.__contains__, str.upper),
    )
    tokens_file: Path | None = None
    # Devices registered at start-up (TOML [devices.AE_TITLE] tables: host, port, modality,
    # name, location, monitored); PUT /api/v1/devices/{ae_title} changes them later.
    devices_file: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        """The facility time zone."""
        return ZoneInfo(self.timezone)


# (section, key) -> (raw value, where it came from); section "" is the top level.
_Raw = dict[tuple[str, str], tuple[object, str]]


def load_settings(environ: Mapping[str, str], config_path: Path | None = None) -> Settings:
    """Build the settings from defaults, the TOML file and the environment, in rising priority.

    Raises:
        ConfigError: a named file is missing or unreadable, or a key is unknown or invalid.
    """
    raw: _Raw = {}
    path = _choose_file(environ, config_path)
    if path is not None:
        raw.update(_read_file(path))
    raw.update(_read_environ(environ))
    settings = _build(Settings, "", raw)
    wants_tls = settings.http.tls or settings.mllp.tls_port is not None
    if (wants_tls or settings.dicom.tls_port is not None) and not (
        settings.tls.cert_file and settings.tls.key_file
    ):
        raise ConfigError(
            "IMAGING_GW_TLS_CERT_FILE, IMAGING_GW_TLS_KEY_FILE: a TLS port or HTTPS needs "
            "the [tls] cert_file and key_file"
        )
    if settings.tokens_file is None and not is_loopback(settings.http.host):
        # Without tokens the API is open: only this machine may reach it.
        raise ConfigError(
            f"IMAGING_GW_HTTP_HOST: binding HTTP to {settings.http.host} needs "
            "IMAGING_GW_TOKENS_FILE (without tokens the API is open to whoever reaches it)"
        )
    return settings


def is_loopback(host: str) -> bool:
    """True for names and addresses of this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe(settings: Settings) -> str:
    """One line for the start-up log, with any password in the database URL hidden."""
    tokens = settings.tokens_file or "none"
    return (
        f"database={_hide_password(settings.database.url)} "
        f"http={settings.http.host}:{settings.http.port} "
        f"mllp={settings.mllp.host}:{settings.mllp.port} "
        f"dicom={settings.dicom.ae_title}@{settings.dicom.host}:{settings.dicom.port} "
        f"timezone={settings.timezone} log_level={settings.log_level} tokens_file={tokens}"
    )


def _hide_password(url: str) -> str:
    """Replace the password of `scheme://user:password@host/...` with ***."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not (sep and at and colon):
        return url
    return f"{scheme}://{user}:***@{host}{slash}{path}"


def _choose_file(environ: Mapping[str, str], config_path: Path | None) -> Path | None:
    """Pick the settings file: the argument, IMAGING_GW_CONFIG, or ./gateway.toml if present."""
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"settings file not found: {config_path}")
        return config_path
    if named := environ.get(CONFIG_VARIABLE):
        if not Path(named).is_file():
            raise ConfigError(f"{CONFIG_VARIABLE}: settings file not found: {named}")
        return Path(named)
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def _known_keys() -> dict[tuple[str, str], str]:
    """Map every (section, key) to its environment variable name."""
    known = {}
    for top in fields(Settings):
        if is_dataclass(top.default):
            for sub in fields(top.default):
                known[top.name, sub.name] = f"{PREFIX}{top.name}_{sub.name}".upper()
        else:
            known["", top.name] = f"{PREFIX}{top.name}".upper()
    return known


def _read_file(path: Path) -> _Raw:
    """Flatten a TOML settings file into (section, key) entries.

    Raises:
        ConfigError: the file is not valid TOML or holds an unknown key or section.
    """
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read settings: {exc}") from exc
    known = _known_keys()
    sections = {section for section, _ in known if section}
    raw: _Raw = {}
    for name, value in document.items():
        if name in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"{path} {name}: expected a [{name}] table")
            for key, item in value.items():
                where = f"{path} [{name}] {key}"
                if (name, key) not in known:
                    raise ConfigError(f"{where}: unknown setting{_suggest(key, _keys_of(name))}")
                raw[name, key] = (item, where)
        elif ("", name) in known:
            raw["", name] = (value, f"{path} {name}")
        else:
            choices = sorted(sections) + _keys_of("")
            raise ConfigError(f"{path} {name}: unknown setting{_suggest(name, choices)}")
    return raw


def _read_environ(environ: Mapping[str, str]) -> _Raw:
    """Pick out the IMAGING_GW_* variables as (section, key) entries.

    Raises:
        ConfigError: an IMAGING_GW_* variable names no setting (most likely a typo).
    """
    by_variable = {variable: key for key, variable in _known_keys().items()}
    raw: _Raw = {}
    for variable, value in environ.items():
        if not variable.startswith(PREFIX) or variable == CONFIG_VARIABLE:
            continue
        if variable.startswith(TEST_PREFIX):
            continue
        if variable not in by_variable:
            hint = _suggest(variable, [*by_variable, CONFIG_VARIABLE])
            raise ConfigError(f"{variable}: unknown setting{hint}")
        raw[by_variable[variable]] = (value, variable)
    return raw


def _keys_of(section: str) -> list[str]:
    """The key names of one section ("" for the top level)."""
    return [key for sec, key in _known_keys() if sec == section]


def _suggest(name: str, choices: list[str]) -> str:
    """A "did you mean" hint for a misspelt name, or nothing."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _build(cls: type, section: str, raw: _Raw) -> Any:
    """Instantiate a settings dataclass from raw entries, walking its fields and their types."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        kind = hints[f.name]
        if is_dataclass(kind):
            values[f.name] = _build(kind, f.name, raw)
        elif (section, f.name) in raw:
            value, where = raw[section, f.name]
            values[f.name] = _accept(value, kind, f.metadata, where)
    return cls(**values)


def _accept(value: object, kind: Any, rule: Mapping[str, Any], where: str) -> Any:
    """Convert one raw value to the field's type and check it against the field's rule.

    Raises:
        ConfigError: the value has the wrong type or breaks the rule.
    """
    expect = rule.get("expect") or _describe_type(kind)
    try:
        parsed = _convert(value, kind)
        if rule.get("fix"):
            parsed = rule["fix"](parsed)
        if rule.get("ok") and not rule["ok"](parsed):
            raise ValueError(expect)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: expected {expect}, got {value!r}") from exc
    return parsed


def _convert(value: object, kind: Any) -> Any:
    """Parse a TOML value or an environment string into `kind`.

    Raises:
        ValueError: the value cannot be read as `kind`.
    """
    args = typing.get_args(kind)
    if type(None) in args:  # X | None: empty, "off" or "none" means unset
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _convert(value, inner)
    if typing.get_origin(kind) is dict:
        if isinstance(value, str):  # from the environment: KEY=value,KEY=value
            pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("expected KEY=value pairs")
            value = dict(pairs)
        if not isinstance(value, dict):
            raise ValueError("expected a table")
        return {str(key).strip(): _convert(item, args[1]) for key, item in value.items()}
    if typing.get_origin(kind) is tuple:
        if isinstance(value, str):  # from the environment: comma-separated
            value = [item for item in value.split(",") if item.strip()]
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return tuple(_convert(item, args[0]) for item in value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise ValueError("expected a boolean")
    if isinstance(value, bool):  # bool is an int subclass: never read `true` as 1
        raise ValueError("unexpected boolean")
    if kind is int and isinstance(value, int | str):
        return int(value)
    if kind is float and isinstance(value, int | float | str):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if kind is str and isinstance(value, str):
        return value.strip()
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise ValueError(f"cannot read {type(value).__name__} as {kind}")


def _describe_type(kind: Any) -> str:
    """What a value of `kind` looks like, for fields without their own rule."""
    names = {
        bool: "true or false (or yes/no, 1/0)",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a file path",
    }
    inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    return names.get(inner[0] if inner else kind, str(kind))
