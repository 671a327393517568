"""A throwaway PostgreSQL primary and its streaming replica, on free ports.

`initdb` a primary, start it, `pg_basebackup -R` a standby from it and start that:
PostgreSQL's own binaries (PG_BIN, default Debian's /usr/lib/postgresql/15/bin), no
change to the shared server. Without them the caller skips with `NO_POSTGRES_BINARIES`.
Run as root, the clusters belong to `postgres` (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.pgbouncer import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HAVE_POSTGRES_BINARIES = all(
    (PG_BIN / b).exists() for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres")
)
NO_POSTGRES_BINARIES = f"no PostgreSQL binaries (initdb, pg_basebackup) in {PG_BIN} (set PG_BIN)"


class Cluster:
    def __init__(self, data: Path, port: int, run_as: str | None):
        self.data = data
        self.port = port
        self.run_as = run_as

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.data}"
            # Throwaway: no durability, small memory.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c shared_buffers=16MB -c max_connections=60"
        )
        self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l",
                 str(self.data / "log"), "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return []
        postmaster = int(pid_file.read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                # pid (comm) state ppid ...: comm may hold spaces, so from the last ")".
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """Stop answering without closing anything (a hung machine, a partition)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


class PrimaryAndReplica:
    """The two clusters, started; `stop()` removes everything."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pg-replica-"))
        self.run_as = "postgres" if os.geteuid() == 0 and _user_exists("postgres") else None
        self.primary = Cluster(self.root / "primary", free_port(), self.run_as)
        self.replica = Cluster(self.root / "replica", free_port(), self.run_as)

    def start(self) -> PrimaryAndReplica:
        if self.run_as:
            shutil.chown(self.root, self.run_as)
        # Trust on 127.0.0.1, replication included (initdb's default lines).
        self.primary.run("initdb", "-D", str(self.primary.data), "-U", "postgres",
                         "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        self.primary.start()
        self.replica.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
                         "-U", "postgres", "-D", str(self.replica.data), "-R",
                         "-X", "stream", "--no-sync")  # fmt: skip
        self.replica.start()
        return self

    def stop(self) -> None:
        self.replica.thaw()
        self.replica.stop("immediate")
        self.primary.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrimaryAndReplica:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
