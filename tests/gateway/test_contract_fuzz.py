"""Schemathesis, every phase (stateful included), against the running gateway's own document:
no failures, without a tokens file and with one and a reader's token."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.auth import Role, Token, hash_token
from gateway.config import load_settings
from gateway.contract.document import document
from gateway.keys import ROUTES
from tests.support.threaded_gateway import ThreadedGateway, exchange

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures" / "hl7"
READER_TOKEN = "schemathesis-reader-token"


def _served(tmp: Path, tokens: dict[str, Token] | None) -> ThreadedGateway:
    gateway = ThreadedGateway(f"sqlite+aiosqlite:///{tmp / 'gateway.db'}", tokens)
    for path in sorted(FIXTURES.rglob("*.hl7")):
        exchange(gateway.port, path.read_bytes())
    return gateway


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    """A gateway without tokens, on ports bound at 0, with the sample messages loaded."""
    gateway = _served(tmp_path_factory.mktemp("open"), None)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def guarded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    """A gateway with a tokens file holding a reader's token."""
    tokens = {hash_token(READER_TOKEN): Token("schemathesis", Role.READER)}
    gateway = _served(tmp_path_factory.mktemp("guarded"), tokens)
    yield gateway
    gateway.stop()


@pytest.fixture
def served_url(open_gateway: ThreadedGateway) -> str:
    """The open gateway's base URL."""
    return open_gateway.running.http_url


def _schemathesis(base: str, *headers: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{base}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "15",
        "--seed",
        "14",
        "--no-color",
        *[arg for header in headers for arg in ("-H", header)],
    ]
    environment = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false"}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
        cwd=cwd,  # its cache goes there, not into the repository
    )


@pytest.mark.slow
def test_schemathesis_finds_nothing_without_tokens(
    open_gateway: ThreadedGateway, tmp_path: Path
) -> None:
    """Open (no tokens file): every phase passes every check against /openapi.json."""
    result = _schemathesis(open_gateway.running.http_url, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:]
    assert "failure" not in result.stdout.splitlines()[-1], result.stdout[-2000:]


@pytest.mark.slow
def test_schemathesis_finds_nothing_with_a_reader_token(
    guarded_gateway: ThreadedGateway, tmp_path: Path
) -> None:
    """Guarded (tokens file, a reader's token): every phase passes; changes answer 403."""
    url = guarded_gateway.running.http_url
    result = _schemathesis(url, f"Authorization: Bearer {READER_TOKEN}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:]
    assert "failure" not in result.stdout.splitlines()[-1], result.stdout[-2000:]


def test_the_docs_page_renders_the_document(served_url: str) -> None:
    """/api/docs is an HTML page naming every described route."""
    with urllib.request.urlopen(f"{served_url}/api/docs", timeout=10) as response:
        page = response.read().decode()
    for _method, path, _ in _described():
        assert path.replace("{", "").split("/")[-1] in page.replace("{", "")


def _described() -> list[tuple[str, str, object]]:
    """(method, path, operation) of every route in the open gateway's document."""
    spec = document(create_app(load_settings({}))[ROUTES], secured=False)
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
