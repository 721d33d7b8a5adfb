"""TLS on every port with one certificate: MLLP over TLS, DICOM TLS (PS3.15 Annex B) and
HTTPS, tried with python's ssl client, DCMTK's echoscu/storescu +tls and curl. A client the
CA did not sign, or a plain connection to a TLS port, fails cleanly and the port serves on."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER, MLLP_TLS_SERVER
from listeners.mllp import frame
from store.schema import instances
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.mllp_client import segments

pytestmark = pytest.mark.skipif(
    not (shutil.which("echoscu") and shutil.which("curl")), reason="needs DCMTK and curl"
)


@dataclass
class Pki:
    """A CA, the gateway's certificate, and two clients: one the CA signed, one it did not."""

    folder: Path
    ca: trustme.CA

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def client_context(self, client: str | None = "client") -> ssl.SSLContext:
        """What a TLS client of the gateway uses: trusting our CA, with a certificate or none."""
        context = ssl.create_default_context(cafile=self.path("ca.pem"))
        if client is not None:
            context.load_cert_chain(self.path(f"{client}.crt"), self.path(f"{client}.key"))
        return context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """Certificates written as PEM files, as an administrator would lay them out."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    issued = {
        "server": ca.issue_cert("127.0.0.1", "localhost"),
        "client": ca.issue_cert("modality1.example.org"),
        "stranger": trustme.CA().issue_cert("stranger.example.org"),
    }
    for name, cert in issued.items():
        cert.private_key_pem.write_to_path(tmp_path / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(tmp_path / f"{name}.crt")
    return Pki(tmp_path, ca)


async def _tls_gateway(database_url: str, pki: Pki, *, verify_clients: bool) -> RunningGateway:
    tls = {"cert_file": Path(pki.path("server.crt")), "key_file": Path(pki.path("server.key"))}
    if verify_clients:
        tls["ca_file"] = Path(pki.path("ca.pem"))
    settings = gateway_settings(
        database_url, tls=tls, mllp={"tls_port": 0}, dicom={"tls_port": 0}, http={"tls": True}
    )
    return await start_gateway(settings)


async def _mllp_over_tls(port: int, message: bytes, context: ssl.SSLContext) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        writer.write(frame(message))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 10)
        return segments(answer[1:-2])
    finally:
        writer.close()


async def _plain_mllp_is_dropped(port: int) -> None:
    """A plain MLLP client on the TLS port gets no answer: the connection just ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(orm_new_order("PLAIN1", control_id="P1")))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )


def _dcmtk_tls(pki: Pki, client: str = "client") -> list[str]:
    return ["+tls", pki.path(f"{client}.key"), pki.path(f"{client}.crt"), "+cf", pki.path("ca.pem")]


async def test_mllp_dicom_and_https_speak_tls_with_one_certificate(
    database_url: str, pki: Pki, tmp_path: Path
) -> None:
    """AA over MLLP/TLS, C-ECHO and C-STORE over DICOM TLS, /healthz over HTTPS; plain
    clients on the TLS ports fail and the ports serve on."""
    gateway = await _tls_gateway(database_url, pki, verify_clients=False)
    try:
        mllp_port = gateway.app[MLLP_TLS_SERVER].port
        dicom_port = str(gateway.app[DICOM_LISTENER].tls_port)
        https = f"{gateway.http_url}/healthz"
        trusting = pki.client_context(None)

        ack = await _mllp_over_tls(mllp_port, orm_new_order("TLS1", control_id="T1"), trusting)
        assert ack["MSA"][:3] == ["MSA", "AA", "T1"]
        await _plain_mllp_is_dropped(mllp_port)
        ack = await _mllp_over_tls(mllp_port, orm_new_order("TLS2", control_id="T2"), trusting)
        assert ack["MSA"][:3] == ["MSA", "AA", "T2"]

        dcmtk = _dcmtk_tls(pki)
        assert (await _run("echoscu", *dcmtk, "127.0.0.1", dicom_port)).returncode == 0
        assert (await _run("echoscu", "127.0.0.1", dicom_port)).returncode != 0
        image = tmp_path / "ct.dcm"
        sent = fx.ct_instance(accession="TLS1")
        sent.save_as(image, enforce_file_format=True)
        stored = await _run("storescu", *dcmtk, "-aet", "CT01", "127.0.0.1", dicom_port, str(image))
        assert stored.returncode == 0, stored.stderr
        async with gateway.engine.connect() as conn:
            uids = (await conn.execute(select(instances.c.sop_instance_uid))).scalars().all()
        assert uids == [sent.SOPInstanceUID]

        ok = await _run("curl", "-sf", "--cacert", pki.path("ca.pem"), https)
        assert ok.returncode == 0 and '"ok"' in ok.stdout
        plain = await _run("curl", "-sf", https.replace("https:", "http:"))
        assert plain.returncode != 0
        assert (await _run("curl", "-sf", "--cacert", pki.path("ca.pem"), https)).returncode == 0
    finally:
        await gateway.runner.cleanup()


async def test_with_a_ca_file_only_its_clients_get_in(database_url: str, pki: Pki) -> None:
    """Client certificates verified against the CA on every TLS port: no certificate, or one
    another CA signed, fails the handshake; the CA's client gets in, before and after."""
    gateway = await _tls_gateway(database_url, pki, verify_clients=True)
    try:
        mllp_port = gateway.app[MLLP_TLS_SERVER].port
        dicom_port = str(gateway.app[DICOM_LISTENER].tls_port)
        https = f"{gateway.http_url}/healthz"

        for client in (None, "stranger"):
            with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                message = orm_new_order("NO1", control_id="N1")
                await _mllp_over_tls(mllp_port, message, pki.client_context(client))
        ack = await _mllp_over_tls(
            mllp_port, orm_new_order("YES1", control_id="Y1"), pki.client_context("client")
        )
        assert ack["MSA"][1] == "AA"

        stranger = await _run("echoscu", *_dcmtk_tls(pki, "stranger"), "127.0.0.1", dicom_port)
        assert stranger.returncode != 0
        assert (await _run("echoscu", *_dcmtk_tls(pki), "127.0.0.1", dicom_port)).returncode == 0

        curl = ("curl", "-sf", "--cacert", pki.path("ca.pem"))
        assert (await _run(*curl, https)).returncode != 0
        with_cert = ("--cert", pki.path("client.crt"), "--key", pki.path("client.key"))
        assert (await _run(*curl, *with_cert, https)).returncode == 0
    finally:
        await gateway.runner.cleanup()
