"""Shared fixtures: a database of each kind per test, and a running gateway on real sockets."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.auth import Token
from gateway.config import Settings, load_settings
from gateway.keys import ENGINE, MLLP_SERVER
from gateway.serve import http_site, make_runner
from mappers.events import DeviceRegistration
from store.engine import create_engine
from store.migrate import migrate
from tests.support.openrem import fetch_openrem_ct_files

# The server every PostgreSQL test creates its own database on (trust auth on this machine
# and in CI). In CI a PostgreSQL test that cannot connect fails; elsewhere it is skipped.
POSTGRES_ADMIN_URL = os.environ.get(
    "IMAGING_GW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class PostgresServer:
    """The PostgreSQL server the suite creates databases on."""

    admin_url: str

    def url_for(self, database: str, *, driver: str = "postgresql+asyncpg") -> str:
        """The SQLAlchemy URL of a database on this server."""
        base = self.admin_url.rsplit("/", 1)[0].split("://", 1)[1]
        return f"{driver}://{base}/{database}"

    async def create_database(self, *, template: str | None = None) -> str:
        """Create a database with a name of its own, empty or a copy of `template`; return
        its name."""
        name = f"imaging_gw_test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        """Drop a database made by `create_database`, whoever is still connected."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def reach_postgres() -> PostgresServer:
    """The PostgreSQL server; fails the test in CI, skips it elsewhere, when unreachable."""
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return PostgresServer(POSTGRES_ADMIN_URL)


@pytest.fixture
async def postgres() -> PostgresServer:
    """The PostgreSQL server, for tests that manage databases themselves."""
    return await reach_postgres()


@dataclass
class MigratedTemplates:
    """Databases migrated to head once per run, which each test's database is copied from:
    migrating every test's database took about a second on PostgreSQL."""

    folder: Path
    sqlite_file: Path | None = None
    postgres_name: str | None = None

    async def sqlite_copy(self, destination: Path) -> None:
        if self.sqlite_file is None:
            self.sqlite_file = self.folder / "template.db"
            await _migrate_url(f"sqlite+aiosqlite:///{self.sqlite_file}")
        shutil.copyfile(self.sqlite_file, destination)

    async def postgres_copy(self, server: PostgresServer) -> str:
        if self.postgres_name is None:
            template = await server.create_database()
            await _migrate_url(server.url_for(template))
            self.postgres_name = template
        return await server.create_database(template=self.postgres_name)


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()  # closing the last SQLite connection folds the WAL back in


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """The run's migrated templates; the PostgreSQL one is dropped at the end."""
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    if templates.postgres_name is not None:
        asyncio.run(PostgresServer(POSTGRES_ADMIN_URL).drop_database(templates.postgres_name))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> AsyncIterator[str]:
    """A database of this test's own, migrated to head: an SQLite file, or a PostgreSQL
    database, each copied from the run's migrated template."""
    if request.param == "sqlite":
        database = tmp_path / "gateway.db"
        await migrated_templates.sqlite_copy(database)
        yield f"sqlite+aiosqlite:///{database}"
        return
    server = await reach_postgres()
    name = await migrated_templates.postgres_copy(server)
    try:
        yield server.url_for(name)
    finally:
        await server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database (no schema), for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    server = await reach_postgres()
    name = await server.create_database()
    try:
        yield server.url_for(name)
    finally:
        await server.drop_database(name)


def gateway_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a gateway under test: loopback, every port 0 (the kernel picks a free one
    as it binds, and the test reads it back), the given database."""
    base = load_settings({}, None)
    sections: dict[str, dict[str, object]] = {
        "database": {"url": database_url, "busy_timeout": 2.0},
        "mllp": {"port": 0, "read_timeout": 2.0, "shutdown_grace": 5.0},
        "http": {"port": 0},
        "dicom": {"port": 0},
    }
    for section, values in overrides.items():
        sections[section] = {**sections.get(section, {}), **values}  # type: ignore[dict-item]
    return base.model_copy(
        update={
            name: getattr(base, name).model_copy(update=values) for name, values in sections.items()
        }
    )


@dataclass
class RunningGateway:
    """A gateway running in the test's event loop, reachable over real sockets."""

    app: web.Application
    runner: web.AppRunner
    settings: Settings
    http_port: int  # the port bound, read back (the settings say 0)

    @property
    def mllp_port(self) -> int:
        return self.app[MLLP_SERVER].port

    @property
    def http_url(self) -> str:
        scheme = "https" if self.settings.http.tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def engine(self) -> AsyncEngine:
        return self.app[ENGINE]


async def start_gateway(
    settings: Settings,
    tokens: Mapping[str, Token] | None = None,
    devices: Mapping[str, DeviceRegistration] | None = None,
) -> RunningGateway:
    """Start the whole application (store, listeners, prober, HTTP) as `serve` does."""
    app = create_app(settings, tokens, devices)
    runner = make_runner(app)
    await runner.setup()
    await http_site(runner).start()
    return RunningGateway(app, runner, settings, runner.addresses[0][1])


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    """A running gateway on a fresh database of each kind."""
    running = await start_gateway(gateway_settings(database_url))
    try:
        yield running
    finally:
        await running.runner.cleanup()


@pytest.fixture(scope="session")
def vendor_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenREM's CT dose objects (vendor RDSRs), downloaded once per run with pip."""
    return fetch_openrem_ct_files(tmp_path_factory.mktemp("openrem"), in_ci=IN_CI)
