"""Settings: defaults, TOML file, environment, validation and the start-up summary."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from gateway.config import (
    ConfigError,
    Settings,
    describe,
    environment_variables,
    load_settings,
)

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "settings" / "example.toml"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test where no ./gateway.toml exists."""
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    """Write a TOML file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    """An empty environment and no file give the documented defaults."""
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database.url == "sqlite+aiosqlite:///./var/gateway.db"
    assert (settings.http.port, settings.mllp.port, settings.dicom.port) == (8080, 2575, 11112)
    assert settings.mllp.idle_timeout is None
    assert settings.dicom.ae_title == "IMAGING_GW"
    assert settings.tz == ZoneInfo("UTC")
    assert settings.tokens_file is None


def test_settings_are_frozen_and_hashable() -> None:
    """Settings cannot be changed after they are built, and can be hashed."""
    settings = load_settings({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.mllp.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.timezone = "Europe/Paris"  # type: ignore[misc]
    assert hash(settings) == hash(load_settings({}))


def test_environment_overrides_file_overrides_defaults(tmp_path: Path) -> None:
    """A variable beats the file, the file beats the default, untouched keys keep defaults."""
    path = write(
        tmp_path / "site.toml",
        'timezone = "Europe/Paris"\n[mllp]\nport = 3000\nidle_timeout = 600\n[http]\nport = 9000\n',
    )
    settings = load_settings({"IMAGING_GW_MLLP_PORT": "4000"}, path)
    assert settings.mllp.port == 4000
    assert settings.mllp.idle_timeout == 600.0
    assert settings.http.port == 9000
    assert settings.tz == ZoneInfo("Europe/Paris")
    assert settings.dicom.port == 11112


def test_file_named_by_environment(tmp_path: Path) -> None:
    """IMAGING_GW_CONFIG names the file to read."""
    path = write(tmp_path / "named.toml", "[probe]\nfailures = 5\n")
    assert load_settings({"IMAGING_GW_CONFIG": str(path)}).probe.failures == 5


def test_gateway_toml_in_working_directory_is_read(tmp_path: Path) -> None:
    """./gateway.toml is read when no file is named."""
    write(tmp_path / "gateway.toml", 'log_level = "DEBUG"\n')
    assert load_settings({}).log_level == "DEBUG"


def test_environment_values_parsed_by_type() -> None:
    """Environment strings become ints, floats, booleans, tuples, paths and None."""
    settings = load_settings(
        {
            "IMAGING_GW_MLLP_MAX_MESSAGE_BYTES": "2048",
            "IMAGING_GW_MLLP_IDLE_TIMEOUT": "off",
            "IMAGING_GW_PROBE_INTERVAL": "12.5",
            "IMAGING_GW_DATABASE_MIGRATE_ON_START": "no",
            "IMAGING_GW_HL7_ACCEPTED_PROCESSING_IDS": "P, T",
            "IMAGING_GW_TOKENS_FILE": "/etc/gw/tokens.toml",
            "IMAGING_GW_LOG_LEVEL": "warning",
            "IMAGING_GW_TEST_ANYTHING": "ignored",
            "PATH": "/usr/bin",
        }
    )
    assert settings.mllp.max_message_bytes == 2048
    assert settings.mllp.idle_timeout is None
    assert settings.probe.interval == 12.5
    assert settings.database.migrate_on_start is False
    assert settings.hl7.accepted_processing_ids == ("P", "T")
    assert settings.tokens_file == Path("/etc/gw/tokens.toml")
    assert settings.log_level == "WARNING"


@pytest.mark.parametrize("value", ["off", "none", "", "OFF"])
def test_idle_timeout_off(value: str) -> None:
    """idle_timeout "off", "none" or empty means no idle timeout."""
    assert load_settings({"IMAGING_GW_MLLP_IDLE_TIMEOUT": value}).mllp.idle_timeout is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://gw:pw@db/imaging", "postgresql+asyncpg://gw:pw@db/imaging"),
        ("postgresql://gw@db:5433/imaging", "postgresql+asyncpg://gw@db:5433/imaging"),
        ("postgresql+asyncpg://db/imaging", "postgresql+asyncpg://db/imaging"),
        ("sqlite+aiosqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
    ],
)
def test_database_url_driver(given: str, expected: str) -> None:
    """Plain PostgreSQL URLs are rewritten to the asyncpg driver; others are kept."""
    assert load_settings({"IMAGING_GW_DATABASE_URL": given}).database.url == expected


BAD_ENVIRONMENT = [
    ({"IMAGING_GW_MLLP_PORT": "abc"}, "IMAGING_GW_MLLP_PORT", "port number"),
    ({"IMAGING_GW_HTTP_PORT": "70000"}, "IMAGING_GW_HTTP_PORT", "port number"),
    ({"IMAGING_GW_DICOM_PORT": "-1"}, "IMAGING_GW_DICOM_PORT", "port number"),
    ({"IMAGING_GW_TIMEZONE": "Mars/Olympus"}, "IMAGING_GW_TIMEZONE", "time zone"),
    ({"IMAGING_GW_DATABASE_URL": "mysql://db/x"}, "IMAGING_GW_DATABASE_URL", "sqlite+aiosqlite"),
    ({"IMAGING_GW_MLLP_PROT": "2575"}, "IMAGING_GW_MLLP_PROT", "IMAGING_GW_MLLP_PORT"),
    ({"IMAGING_GW_DATABASE_MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START", "true or false"),
    ({"IMAGING_GW_MLLP_READ_TIMEOUT": "0"}, "IMAGING_GW_MLLP_READ_TIMEOUT", "> 0"),
    ({"IMAGING_GW_MLLP_IDLE_TIMEOUT": "-1"}, "IMAGING_GW_MLLP_IDLE_TIMEOUT", "'off'"),
    ({"IMAGING_GW_MLLP_MAX_MESSAGE_BYTES": "100"}, "MAX_MESSAGE_BYTES", ">= 1024"),
    ({"IMAGING_GW_PROBE_FAILURES": "0"}, "IMAGING_GW_PROBE_FAILURES", ">= 1"),
    ({"IMAGING_GW_PROBE_INTERVAL": "nan"}, "IMAGING_GW_PROBE_INTERVAL", "seconds"),
    ({"IMAGING_GW_LOG_LEVEL": "LOUD"}, "IMAGING_GW_LOG_LEVEL", "DEBUG"),
    ({"IMAGING_GW_DICOM_AE_TITLE": "A" * 17}, "IMAGING_GW_DICOM_AE_TITLE", "1-16"),
    ({"IMAGING_GW_DICOM_AE_TITLE": "A\\B"}, "IMAGING_GW_DICOM_AE_TITLE", "backslash"),
    ({"IMAGING_GW_HL7_DEFAULT_CHARSET": "UTF-8"}, "DEFAULT_CHARSET", "UNICODE UTF-8"),
    ({"IMAGING_GW_HL7_ACCEPTED_PROCESSING_IDS": "X"}, "PROCESSING_IDS", "P, D, T"),
    ({"IMAGING_GW_CONFIG": "/nonexistent/gw.toml"}, "IMAGING_GW_CONFIG", "not found"),
]


@pytest.mark.parametrize(("environ", "names", "says"), BAD_ENVIRONMENT)
def test_bad_environment_names_the_variable(environ: dict[str, str], names: str, says: str) -> None:
    """A bad variable raises a one-line ConfigError naming it and what was expected."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert "\n" not in message
    assert names in message
    assert says in message


BAD_FILES = [
    ("[mllp]\nport = 'abc'\n", "[mllp] port", "port number"),
    ("[mllp]\nport = true\n", "[mllp] port", "port number"),
    ("[mllp]\nprot = 2575\n", "[mllp] prot", "did you mean port"),
    ("[mlp]\nport = 2575\n", "mlp", "unknown setting"),
    ("timezone = 'Nowhere/Special'\n", "timezone", "time zone"),
    ("[database]\nurl = 'oracle://x'\n", "[database] url", "postgresql+asyncpg"),
    ("[database]\nmigrate_on_start = 'perhaps'\n", "migrate_on_start", "true or false"),
    ("[hl7]\naccepted_processing_ids = ['P', 1]\n", "accepted_processing_ids", "processing ids"),
    ("mllp = 5\n", "mllp", "table"),
    ("[mllp\n", "gateway.toml", "cannot read"),
]


@pytest.mark.parametrize(("text", "names", "says"), BAD_FILES)
def test_bad_file_names_the_key(tmp_path: Path, text: str, names: str, says: str) -> None:
    """A bad file entry raises a one-line ConfigError naming the file, section and key."""
    path = write(tmp_path / "gateway.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert names in message
    assert says in message


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    """A config_path that does not exist is an error naming it."""
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_settings({}, tmp_path / "missing.toml")


def test_describe_hides_password() -> None:
    """The start-up summary shows the database user and host but not the password."""
    settings = load_settings({"IMAGING_GW_DATABASE_URL": "postgres://gw:s3cr%40t@db:5432/imaging"})
    line = describe(settings)
    assert "s3cr" not in line
    assert "postgresql+asyncpg://gw:***@db:5432/imaging" in line
    assert "\n" not in line
    assert "mllp=127.0.0.1:2575" in line


def test_example_file_is_valid_and_complete() -> None:
    """fixtures/settings/example.toml loads, keeps the defaults and mentions every setting."""
    assert load_settings({}, EXAMPLE) == Settings()
    text = EXAMPLE.read_text(encoding="utf-8")
    for name, top in Settings.model_fields.items():
        section = top.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            assert f"[{name}]" in text or f"[{name}." in text
            for sub in section.model_fields:
                # A code table may be written as its own [section.table].
                # An optional setting (default unset) is shown commented out.
                written = rf"^((# )?{sub} = |\[{name}\.{sub}\]$)"
                assert re.search(written, text, re.MULTILINE), sub
        else:
            assert re.search(rf"^(# )?{name} = ", text, re.MULTILINE), name


README = Path(__file__).parents[2] / "README.md"


def _readme_settings_rows() -> list[tuple[str, str, str]]:
    """The rows of the README's settings table: (setting, environment, default) cells."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| setting | environment | default |", 1)[1].split("\n\n", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split(" | ")] for line in table.splitlines()[2:]
    ]
    return [(setting, environment, default) for setting, environment, default in rows]


def test_readme_settings_table_matches_the_model() -> None:
    """Each README settings row names real keys, their variables, and their defaults."""
    defaults = Settings()
    known = environment_variables()
    rows = _readme_settings_rows()
    assert len(rows) >= 8
    for setting, environment, default in rows:
        keys, section = [], ""
        for named_section, key in re.findall(r"`(?:\[(\w+)\] )?(\w+)`", setting):
            section = named_section or (section if setting.startswith("`[") else "")
            keys.append((section, key))
        variables = re.findall(r"`((?:IMAGING_GW|\.\.\.)_\w+)`", environment)
        # `..._READ_TIMEOUT` abbreviates the section's prefix.
        variables = [
            v.replace("...", f"IMAGING_GW_{sec.upper()}", 1)
            for v, (sec, _) in zip(variables, keys, strict=False)
        ]
        values = [v.strip().strip("`").removesuffix("` s") for v in default.split(", ")]
        assert len(keys) == len(variables) == len(values), setting
        for key, variable, value in zip(keys, variables, values, strict=True):
            assert known[variable] == key, (variable, key)
            section_name, name = key
            actual = getattr(getattr(defaults, section_name) if section_name else defaults, name)
            expected = None if value == "off" else value
            shown = str(actual).lower() if isinstance(actual, bool) else actual
            assert (expected is None and actual is None) or str(shown) in (
                value,
                f"{value}.0",
            ), (key, value, actual)


def test_listen_backlogs_default_and_read_from_the_environment() -> None:
    """Each listener's listen_backlog is 128 by default, set by its variable, at least 1."""
    settings = load_settings({})
    assert (settings.http.listen_backlog, settings.mllp.listen_backlog) == (128, 128)
    assert settings.dicom.listen_backlog == 128
    changed = load_settings(
        {
            "IMAGING_GW_HTTP_LISTEN_BACKLOG": "512",
            "IMAGING_GW_MLLP_LISTEN_BACKLOG": "64",
            "IMAGING_GW_DICOM_LISTEN_BACKLOG": "1",
        }
    )
    assert (changed.http.listen_backlog, changed.mllp.listen_backlog) == (512, 64)
    assert changed.dicom.listen_backlog == 1
    with pytest.raises(ConfigError, match=r"^IMAGING_GW_MLLP_LISTEN_BACKLOG: .*>= 1"):
        load_settings({"IMAGING_GW_MLLP_LISTEN_BACKLOG": "0"})


def test_tables_and_lists_from_the_environment() -> None:
    """KEY=value tables and comma-separated lists are read from variables; bad pairs named."""
    settings = load_settings(
        {
            "IMAGING_GW_HL7_ORDER_STATUS": "SC=scheduled, IP=exam_started",
            "IMAGING_GW_DICOM_CALLING_AES": "CT01,MR01",
            "IMAGING_GW_FLOW_GOALS": "wait/*/*/outpatient=15",
        }
    )
    assert settings.hl7.order_status == {"SC": "scheduled", "IP": "exam_started"}
    assert settings.dicom.calling_aes == ("CT01", "MR01")
    assert settings.flow.goals == {"wait/*/*/outpatient": 15.0}
    with pytest.raises(ConfigError, match=r"^IMAGING_GW_HL7_ORDER_STATUS: expected a table"):
        load_settings({"IMAGING_GW_HL7_ORDER_STATUS": "SC"})


def test_loopback_only_without_tokens() -> None:
    """Binding HTTP beyond loopback without a tokens file is refused naming the host setting."""
    with pytest.raises(ConfigError, match=r"^IMAGING_GW_HTTP_HOST: .*IMAGING_GW_TOKENS_FILE"):
        load_settings({"IMAGING_GW_HTTP_HOST": "0.0.0.0"})
    opened = {"IMAGING_GW_HTTP_HOST": "0.0.0.0", "IMAGING_GW_TOKENS_FILE": "/etc/t.toml"}
    assert load_settings(opened).http.host == "0.0.0.0"
