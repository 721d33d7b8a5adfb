"""Settings: defaults, then a TOML file, then IMAGING_GW_* variables; built once and frozen.

The model is `gateway.settings`; this module finds the sources, hands them to pydantic-settings
and turns its errors into one line naming the variable or the file's key.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import TomlConfigSettingsSource

from gateway.settings import DEFAULT_GOALS, SECTIONS, FlowSettings, Settings

__all__ = [
    "DEFAULT_GOALS",
    "ConfigError",
    "FlowSettings",
    "Settings",
    "describe",
    "environment_variables",
    "is_loopback",
    "load_settings",
]

PREFIX = "IMAGING_GW_"
CONFIG_VARIABLE = "IMAGING_GW_CONFIG"
TEST_PREFIX = "IMAGING_GW_TEST_"  # reserved for the test suite, never read here
DEFAULT_FILE = Path("gateway.toml")

# (section, key); section "" is the top level.
Key = tuple[str, str]


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message is one line naming it."""


def environment_variables() -> dict[str, Key]:
    """Every IMAGING_GW_* variable name and the (section, key) it sets."""
    known: dict[str, Key] = {}
    for name in Settings.model_fields:
        if name in SECTIONS:
            for key in SECTIONS[name].model_fields:
                known[f"{PREFIX}{name}_{key}".upper()] = (name, key)
        else:
            known[f"{PREFIX}{name}".upper()] = ("", name)
    return known


def load_settings(environ: Mapping[str, str], config_path: Path | None = None) -> Settings:
    """Build the settings from defaults, the TOML file and the environment, in rising priority.

    Raises:
        ConfigError: a named file is missing or unreadable, or a key is unknown or invalid.
    """
    path = _choose_file(environ, config_path)
    document = _read_file(path) if path is not None else {}
    from_environ = _read_environ(environ)
    merged = dict(document)
    for (section, key), (value, _variable) in from_environ.items():
        if section:
            table = merged.get(section)
            merged[section] = {**(table if isinstance(table, dict) else {}), key: value}
        else:
            merged[key] = value
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, merged, from_environ, path)) from None
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


def _read_file(path: Path) -> dict[str, Any]:
    """The TOML document, through pydantic-settings' TOML source.

    Raises:
        ConfigError: the file cannot be read or is not TOML.
    """
    try:
        return dict(TomlConfigSettingsSource(Settings, toml_file=path).toml_data)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: cannot read settings: {exc}") from exc


def _read_environ(environ: Mapping[str, str]) -> dict[Key, tuple[str, str]]:
    """Pick out the IMAGING_GW_* variables as (section, key) -> (value, variable).

    Raises:
        ConfigError: an IMAGING_GW_* variable names no setting (most likely a typo).
    """
    known = environment_variables()
    found: dict[Key, tuple[str, str]] = {}
    for variable, value in environ.items():
        if not variable.startswith(PREFIX) or variable == CONFIG_VARIABLE:
            continue
        if variable.startswith(TEST_PREFIX):
            continue
        if variable not in known:
            hint = _suggest(variable, [*known, CONFIG_VARIABLE])
            raise ConfigError(f"{variable}: unknown setting{hint}")
        found[known[variable]] = (value, variable)
    return found


def _explain(
    exc: ValidationError,
    merged: Mapping[str, Any],
    environ: Mapping[Key, tuple[str, str]],
    path: Path | None,
) -> str:
    """One line naming the first refused key and what it should look like."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    section, key = (loc[0], loc[1]) if loc[0] in SECTIONS and len(loc) > 1 else ("", loc[0])
    if (section, key) in environ:
        value, where = environ[section, key]
    else:
        value = merged[section][key] if section else merged.get(key)
        where = f"{path} [{section}] {key}" if section else f"{path} {key}"
    if error["type"] == "extra_forbidden":
        choices = list(SECTIONS[section].model_fields) if section else _top_level_names()
        return f"{where}: unknown setting{_suggest(key, choices)}"
    if not section and key in SECTIONS:
        return f"{where}: expected a [{key}] table, got {value!r}"
    model: type[BaseModel] = SECTIONS[section] if section else Settings
    expect = model.model_fields[key].description or error["msg"]
    return f"{where}: expected {expect}, got {value!r}"


def _top_level_names() -> list[str]:
    return sorted(Settings.model_fields)


def _suggest(name: str, choices: list[str]) -> str:
    """A "did you mean" hint for a misspelt name, or nothing."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
