"""The devices file registers devices at start-up; a bad entry is refused naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.devices_file import DevicesFileError, load_devices
from mappers.events import DeviceRegistration

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "settings" / "devices.toml"


def test_the_example_file_loads() -> None:
    """fixtures/settings/devices.toml reads into registrations, keyed by AE title."""
    devices = load_devices(EXAMPLE)
    assert devices["CT01"] == DeviceRegistration(
        host="10.20.0.11",
        port=104,
        modality="CT",
        name="CT scanner 1 (ED)",
        location="Emergency imaging",
        monitored=True,
    )
    assert set(devices) == {"CT01", "MR01"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[devices.CT01]\ncolour = 'blue'", "[devices.CT01] colour: unknown parameter"),
        ("[devices.CT01]\nport = 70000", "[devices.CT01] port: Input should be less than"),
        ("[devices.CT01]\nport = '104'", "[devices.CT01] port: Input should be a valid integer"),
        ("[devices.CT01]\nmonitored = true", "[devices.CT01] monitored: a monitored device needs"),
        ("[devices.THIS_TITLE_IS_TOO_LONG]\nport = 104", "1-16 characters"),
        ("[devices.'A\\\\B']\nport = 104", "without backslash"),
        ("not toml [", "cannot read devices"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(tmp_path: Path, content: str, message: str) -> None:
    """An unknown key, a bad port, a long AE title or broken TOML: one line naming it."""
    path = tmp_path / "devices.toml"
    path.write_text(content)
    with pytest.raises(DevicesFileError) as refused:
        load_devices(path)
    assert message in str(refused.value)
