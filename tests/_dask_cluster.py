"""A Dask cluster of worker processes on loopback for tests: ``dask scheduler`` and ``dask worker``
subprocesses on free ports, torn down reliably (each started in its own process group, stopped by
its own id), and a deliberately slow water-balance simulator that records where each chunk ran.

The workers import this module (``tests/`` is put on their ``PYTHONPATH``), so the simulator below
travels to them by reference.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowWaterBalance(WaterBalanceSimulator):
    """``waterbalance`` that sleeps ``delay`` seconds per chunk and appends ``start``/``end`` lines
    (process id, first cell, parameter checksum) to ``log_path``: a chunk killed mid-run shows a
    start without an end in that process."""

    name = "waterbalance"

    def __init__(self, delay: float = 0.3, log_path: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.delay = float(delay)
        self.log_path = log_path

    def _note(self, what: str, region, params) -> None:
        if self.log_path is None:
            return
        key = f"{int(region.cells[0])}:{float(params['infilt'].values.sum()):.12g}"
        with open(self.log_path, "a") as fh:
            fh.write(f"{what} {os.getpid()} {key}\n")

    def simulate(self, region, params, *, period=None):
        self._note("start", region, params)
        time.sleep(self.delay)
        out = super().simulate(region, params, period=period)
        self._note("end", region, params)
        return out


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class DaskProcesses:
    """``dask scheduler`` + ``n`` ``dask worker`` processes (one thread each, no nanny) on 127.0.0.1."""

    def __init__(self, folder: Path, n_workers: int = 2, env: dict | None = None) -> None:
        self.folder = Path(folder)
        self.n_workers = n_workers
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
                    "OMP_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False", **(env or {})}
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.address = ""

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        fh = open(self.folder / log, "wb")
        proc = subprocess.Popen([str(DASK), *args], stdout=fh, stderr=subprocess.STDOUT, env=self.env,
                                cwd=self.folder, start_new_session=True)
        fh.close()
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "DaskProcesses":
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        try:
            self._start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", "--no-show"],
                        "scheduler.log")
            for k in range(self.n_workers):
                local = self.folder / f"worker{k}"
                local.mkdir(exist_ok=True)
                self.workers.append(self._start(
                    ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--name", f"w{k}", "--local-directory", str(local)], f"worker{k}.log"))
            self.wait_for_workers(self.n_workers)
        except BaseException:
            self.close()
            raise
        return self

    def wait_for_workers(self, n: int, timeout: float = 60.0) -> None:
        from dask.distributed import Client

        with Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(self.folder.glob("*.log")))

    def close(self) -> None:
        """Ask the scheduler to close itself and its workers; then stop what is left of each process group
        (SIGTERM, SIGKILL after 3 s), each by its own id."""
        if self.address and self.procs and self.procs[0].poll() is None:
            try:
                from dask.distributed import Client

                with Client(self.address, timeout="5s", set_as_default=False) as client:
                    client.shutdown()
            except Exception:  # noqa: BLE001 - the signals below stop it anyway
                pass
        for group in (self.procs[1:], self.procs[:1]):
            for sig in (signal.SIGTERM, signal.SIGKILL):  # 3 s to exit, then the signal
                deadline = time.monotonic() + 3
                for proc in group:
                    try:
                        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        _signal(proc, sig)
                        if sig == signal.SIGKILL:
                            proc.wait(timeout=10)

    def __exit__(self, *exc) -> None:
        self.close()
