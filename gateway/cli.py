"""The `imaging-gateway` command: serve, migrate, rebuild-read-models, replay FILE, simulate,
backup PATH, token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth import Role, TokensError, hash_token, load_tokens, new_token
from gateway.config import ConfigError, Settings, load_settings
from gateway.devices_file import DevicesFileError, load_devices
from gateway.logs import configure_logging
from gateway.pruning import prune
from gateway.replay import replay, split_messages
from gateway.serve import serve
from gateway.simulation.player import DayOptions, Peers, simulate
from store.backup import BackupError, backup_sqlite, sqlite_file
from store.engine import create_engine
from store.errors import SchemaOutOfDate
from store.ingest import Ingest
from store.migrate import migrate
from store.rebuild import Rebuilt, rebuild_read_models
from store.retention import Cutoffs, Pruned


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status says whether it worked."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ, args.config)
    except ConfigError as exc:
        print(f"imaging-gateway: bad setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        return args.run(settings, args)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imaging-gateway", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: $IMAGING_GW_CONFIG or ./gateway.toml when present)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the listeners and the API")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)

    rebuild = commands.add_parser(
        "rebuild-read-models",
        help="recompute the flow figures, board state and volume counts from the orders",
    )
    rebuild.set_defaults(run=_rebuild_read_models)

    replay = commands.add_parser("replay", help="send the HL7 messages in FILE over MLLP")
    replay.add_argument("file", type=Path, help="a file of HL7 v2 messages (ER7 or MLLP frames)")
    replay.add_argument("--host", help="gateway MLLP host (default: the MLLP bind setting)")
    replay.add_argument("--port", type=int, help="gateway MLLP port (default: the MLLP setting)")
    replay.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per ACK")
    replay.set_defaults(run=_replay)

    simulate = commands.add_parser(
        "simulate", help="play a department's day against the running gateway"
    )
    simulate.add_argument("--exams", type=int, default=60, help="exams in the day (60)")
    simulate.add_argument("--past-hours", type=float, default=9.0, help="hours before now (9)")
    simulate.add_argument("--ahead-hours", type=float, default=1.0, help="hours after now (1)")
    simulate.add_argument(
        "--speed", type=float, default=0.0, help="play the past N times faster; 0: at once"
    )
    simulate.add_argument("--seed", type=int, default=1, help="another seed, another day")
    simulate.add_argument("--token", help="an API token, when the gateway has a tokens file")
    simulate.add_argument(
        "--no-outage", action="store_true", help="no scanner stops answering C-ECHO"
    )
    simulate.set_defaults(run=_simulate)

    prune = commands.add_parser(
        "prune", help="delete message-log rows (and bodies) older than DAYS, now"
    )
    prune.add_argument(
        "--older-than", type=int, required=True, metavar="DAYS", help="days to keep (>= 1)"
    )
    prune.set_defaults(run=_prune)

    backup = commands.add_parser(
        "backup", help="copy the SQLite store to PATH while the gateway runs"
    )
    backup.add_argument("path", type=Path, help="where the copy goes (replaced when whole)")
    backup.set_defaults(run=_backup)

    token = commands.add_parser("token", help="make an API token and print its tokens-file entry")
    token.add_argument("name", help="who the token is for, e.g. dashboard")
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.READER.value)
    token.set_defaults(run=_token)
    return parser


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    # Both files are read before the event loop starts: nothing blocks it later.
    try:
        tokens = load_tokens(settings.tokens_file) if settings.tokens_file else None
        devices = load_devices(settings.devices_file) if settings.devices_file else None
    except (TokensError, DevicesFileError) as exc:
        print(f"imaging-gateway: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings, tokens, devices))
    except SchemaOutOfDate as exc:
        print(f"imaging-gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as exc:  # a port in use, a database out of reach
        print(f"imaging-gateway: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(settings.database.url, busy_timeout=settings.database.busy_timeout)
        try:
            await migrate(engine, settings.timezone)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is at the newest schema")
    return 0


def _rebuild_read_models(settings: Settings, _args: argparse.Namespace) -> int:
    async def run() -> Rebuilt:
        engine = create_engine(settings.database.url, busy_timeout=settings.database.busy_timeout)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(rebuild_read_models, settings.tz)
        finally:
            await engine.dispose()

    rebuilt = asyncio.run(run())
    print(
        f"read models rebuilt: {rebuilt.figures} figure rows, {rebuilt.board} board rows, "
        f"{rebuilt.volume_hours} volume hours"
    )
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    try:
        messages = split_messages(args.file.read_bytes())
    except OSError as exc:
        print(f"imaging-gateway: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    if not messages:
        print(f"imaging-gateway: no HL7 message in {args.file}", file=sys.stderr)
        return 2
    host = args.host or settings.mllp.host
    port = args.port or settings.mllp.port
    try:
        replies = asyncio.run(replay(messages, host, port, timeout=args.timeout))
    except (OSError, TimeoutError) as exc:
        print(f"imaging-gateway: cannot replay to {host}:{port}: {exc}", file=sys.stderr)
        return 1
    for reply in replies:
        print(f"{reply.control_id}\t{reply.ack_code}\t{reply.text}".rstrip())
    accepted = all(reply.ack_code in ("AA", "CA") for reply in replies)
    return 0 if accepted else 1


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    # The scanners' every association would be two INFO lines of pynetdicom's own.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    scheme = "https" if settings.http.tls else "http"
    peers = Peers(
        mllp=(settings.mllp.host, settings.mllp.port),
        dicom=(settings.dicom.host, settings.dicom.port, settings.dicom.ae_title),
        http_url=f"{scheme}://{settings.http.host}:{settings.http.port}",
        token=args.token,
    )
    options = DayOptions(
        exams=args.exams,
        past_hours=args.past_hours,
        ahead_hours=args.ahead_hours,
        speed=args.speed,
        seed=args.seed,
        outage=None if args.no_outage else DayOptions.outage,
    )
    try:
        tally = asyncio.run(simulate(peers, options))
    except (OSError, aiohttp.ClientError) as exc:
        print(f"imaging-gateway: cannot reach the gateway: {exc}", file=sys.stderr)
        return 1
    print(", ".join(f"{count} {step}" for step, count in sorted(tally.sent.items())))
    for refused in tally.refused:
        print(f"not accepted: {refused}")
    return 0 if not tally.refused else 1


def _prune(settings: Settings, args: argparse.Namespace) -> int:
    if args.older_than < 1:
        print("imaging-gateway: --older-than takes a number of days >= 1", file=sys.stderr)
        return 2

    async def run() -> Pruned:
        engine = create_engine(settings.database.url, busy_timeout=settings.database.busy_timeout)
        ingest = Ingest(engine, timeout=settings.database.busy_timeout * 2)
        await ingest.start()
        try:
            days = args.older_than
            return await prune(ingest, Cutoffs.from_days(datetime.now(UTC), days, days))
        finally:
            await ingest.close()
            await engine.dispose()

    pruned = asyncio.run(run())
    print(
        f"pruned {pruned.rows} message-log rows and {pruned.bodies} more message bodies"
        f" ({pruned.outbox} delivered outbox rows)"
    )
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        size = backup_sqlite(sqlite_file(settings.database.url), args.path)
    except BackupError as exc:
        print(f"imaging-gateway: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {args.path} ({size} bytes)")
    return 0


def _token(_settings: Settings, args: argparse.Namespace) -> int:
    token = new_token()
    print(f"token (give it to {args.name}; it is not kept anywhere): {token}")
    print("entry for the tokens file:")
    print(f'[tokens.{args.name}]\nrole = "{args.role}"\nsha256 = "{hash_token(token)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
