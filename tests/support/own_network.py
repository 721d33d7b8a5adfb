"""A tool that cannot bind port 0, run where its fixed port collides with nothing: a network
namespace of its own (Linux; root, as in CI), its loopback up. Other tools join that namespace
(`OwnNetwork.enter`) to talk to it; nothing outside it can take the port in between."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Run inside the new namespace: bring the loopback up (SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP),
# then become the tool.
_LOOPBACK_UP_THEN_EXEC = """
import fcntl, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
request = struct.pack("16sH14s", b"lo", 0, b"")
flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, request))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))
s.close()
os.execvp(sys.argv[1], sys.argv[1:])
"""

# Run inside the namespace: exit 0 once something accepts on the port, 1 after ten seconds.
_WAIT_FOR_PORT = """
import socket, sys, time
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
"""


def own_network_available() -> bool:
    """Whether this process may make a network namespace (root, or CAP_SYS_ADMIN)."""
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    except OSError:
        return False
    return done.returncode == 0


@dataclass(frozen=True, slots=True)
class OwnNetwork:
    """A tool running in a network namespace of its own."""

    process: asyncio.subprocess.Process

    @property
    def enter(self) -> list[str]:
        """The command prefix that runs a program in the tool's namespace."""
        return ["nsenter", "-t", str(self.process.pid), "-n"]

    async def listening(self, port: int) -> bool:
        """Whether the tool accepts connections on `port` within ten seconds."""
        waiter = await asyncio.create_subprocess_exec(
            *self.enter, sys.executable, "-c", _WAIT_FOR_PORT, str(port)
        )
        return await waiter.wait() == 0

    async def stop(self) -> None:
        """End the tool, and its namespace with it. `unshare --fork` ignores SIGTERM while it
        waits for its child: the tool itself is asked to end, and unshare ends with it."""
        if self.process.returncode is None:
            pid = self.process.pid
            listed = Path(f"/proc/{pid}/task/{pid}/children")
            children = (await asyncio.to_thread(listed.read_text)).split()
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child), signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()  # takes the tool along (--kill-child)
        await self.process.wait()


async def start_in_own_network(*command: str) -> OwnNetwork:
    """Start `command` in a new network namespace whose loopback is up."""
    process = await asyncio.create_subprocess_exec(
        "unshare",
        "--net",
        "--fork",
        "--kill-child",
        sys.executable,
        "-c",
        _LOOPBACK_UP_THEN_EXEC,
        *command,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    # Until unshare has made the namespace, entering "its" namespace enters this one.
    ours = os.readlink("/proc/self/ns/net")
    for _ in range(500):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{process.pid}/ns/net") != ours:
                return OwnNetwork(process)
        await asyncio.sleep(0.01)
    process.kill()
    await process.wait()
    raise RuntimeError("unshare made no network namespace within five seconds")
