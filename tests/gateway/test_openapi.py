"""/openapi.json describes exactly the /api/v1 routes, and the responses keep to it."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.auth import Role, Token, hash_token
from gateway.openapi import document
from tests.conftest import RunningGateway
from tests.support.threaded_gateway import ThreadedGateway, exchange

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"
TOKEN = "schemathesis-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _described(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def _routed(gateway: RunningGateway) -> set[tuple[str, str]]:
    routed = set()
    for route in gateway.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            routed.add((route.method, path.replace(r"{id:\d+}", "{id}")))
    return routed


async def test_every_api_route_is_described_and_nothing_else(gateway: RunningGateway) -> None:
    """The document lists exactly the /api/v1 routes the application serves."""
    assert _described(document()) == _routed(gateway)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    """A gateway on SQLite with the sample messages loaded, for schemathesis."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('openapi') / 'gateway.db'}"
    gateway = ThreadedGateway(url, {hash_token(TOKEN): Token("schemathesis", Role.OPERATOR)})
    for path in sorted(FIXTURES.rglob("*.hl7")):
        exchange(gateway.port, path.read_bytes())
    yield gateway
    gateway.stop()


def test_responses_keep_to_the_document(served: ThreadedGateway) -> None:
    """schemathesis: for generated requests to every operation, no 5xx, and every response
    matches its documented status, content type and schema."""
    base = served.running.http_url
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == len(_described(document()))
    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            # A cursor is opaque (the next_cursor of a page): a made-up one is rightly refused,
            # which no schema can say; every other check stays on.
            case.call_and_validate(
                base_url=base, headers=AUTH, excluded_checks=[positive_data_acceptance]
            )

        check()


def test_the_docs_page_renders_the_document(served: ThreadedGateway) -> None:
    """/api/docs is an HTML page naming every described route."""
    with urllib.request.urlopen(f"{served.running.http_url}/api/docs", timeout=10) as response:
        page = response.read().decode()
    for _method, path in _described(document()):
        assert path.replace("{", "").split("/")[-1] in page.replace("{", "")
