"""Wall time, CPU seconds and peak RSS of a command and every process it starts.

``/usr/bin/time`` and ``RUSAGE_CHILDREN`` miss processes that are never waited for by their
parent chain (the forkserver's pool workers are its children, not ours), so :func:`run_measured`
polls the whole process tree with psutil: CPU is the sum over every process seen of its last
observed user + system time (plus its reaped children's), taken together with ``RUSAGE_CHILDREN``
(whichever is larger: polling can miss the last interval of a short-lived process); peak RSS is
the largest sum of the tree's resident sizes over the polls, and never less than any one process's
own high-water mark (``VmHWM`` in ``/proc/PID/status``, which catches peaks between polls).
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measured:
    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_gb: float
    processes: int
    output: str


def run_measured(command: list[str], *, poll: float = 0.2, env: dict | None = None, cwd: str | None = None,
                 timeout: float | None = None) -> Measured:
    """Run ``command``; return its wall time, whole-tree CPU seconds and peak tree RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True)
    root = psutil.Process(proc.pid)
    cpu: dict[int, float] = {}
    hwm: dict[int, int] = {}
    peak = 0
    out_chunks: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
                    rss += p.memory_info().rss
                hwm[p.pid] = max(hwm.get(p.pid, 0), _vmhwm(p.pid))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        peak = max(peak, rss)
        if timeout is not None and time.perf_counter() - t0 > timeout:
            for p in reversed(procs):
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        time.sleep(poll)
    proc.wait()
    reader.join(timeout=10)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(list(command), proc.returncode, wall, max(sum(cpu.values()), waited),
                    max([peak, *hwm.values()]) / 1e9, len(cpu), "".join(out_chunks))


def _vmhwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fit_exponent(sizes, values) -> float:
    """Slope of log(value) against log(size) (least squares): the growth exponent."""
    import numpy as np

    x, y = np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(values, float), 1e-9))
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def niced_env(threads: int = 1) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env
