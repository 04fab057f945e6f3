"""Scaling table: wall time, CPU seconds (whole process tree) and peak RSS of every command.

Usage::

    python benchmarks/bench_scale.py [--cells 1024,4096,16384,50176] [--years 3] [--workdir DIR]
        [--max-rss-gb 8] [--surrogate-cells 1024] [--keep] [--json FILE]
    python benchmarks/bench_scale.py --from-json A.json,B.json   # the table of runs made in pieces

For each size (square grids: 1024 = 32 x 32, ..., 50176 = 224 x 224) it runs, as separate CLI
processes in a fresh folder:

``synth``              the synthetic twin, DAS-S8 training cells marked (``--train-k 8``)
``surrogate train``    preset ``test`` on at most ``--surrogate-cells`` cells (``--max-cells``)
``calibrate``          ParaFormer-A (preset ``small``, one thread) on the DAS-S8 training cells
``apply``              the saved ParaFormer-A model applied to every cell (``calibrate --apply``)
``evaluate``           the applied parameters run through the water balance and scored
``surrogate evaluate`` the surrogate against the simulator, 2 fresh samples, ``--max-memory 1``

Each command is measured with :func:`benchmarks._proctree.run_measured` (CPU of every process in
the tree, pool workers included; peak RSS of the tree). Commands are run under ``nice``. Before a
size, each command's peak RSS is predicted from the previous sizes (the growth between the last
two, linear in cells from one); a command
predicted over ``--max-rss-gb`` is skipped and reported as such, rather than pushing a shared
machine into swap. The table ends with the fitted growth exponent (slope of log value against
log cells) of every command's wall, CPU and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proctree import fit_exponent, niced_env, run_measured  # noqa: E402

STEPS = ["synth", "surrogate train", "calibrate", "apply", "evaluate", "surrogate evaluate"]


def commands(exe: str, n: int, years: float, surrogate_cells: int, d: Path) -> dict[str, list[str]]:
    side = int(round(math.sqrt(n)))
    r, sur, model, res, app = (str(d / f) for f in ("region.nc", "sur.pt", "model.pt", "res.nc", "applied.nc"))
    return {
        "synth": [exe, "synth", "--out", r, "--ny", str(side), "--nx", str(side), "--years", str(years),
                  "--seed", "0", "--train-k", "8"],
        "surrogate train": [exe, "surrogate", "train", "--region", r, "--out", sur, "--preset", "test",
                            "--max-cells", str(surrogate_cells), "--threads", "1", "--no-progress"],
        "calibrate": [exe, "calibrate", "--region", r, "--strategy", "paraformer_a", "--surrogate", sur,
                      "--out", res, "--model-out", model, "-o", "preset=small", "-o", "threads=1",
                      "-o", "progress=false"],
        "apply": [exe, "calibrate", "--apply", model, "--region", r, "--out", app],
        "evaluate": [exe, "evaluate", "--region", r, "--result", app, "--out", str(d / "metrics.json"),
                     "--variables", "sm"],
        "surrogate evaluate": [exe, "surrogate", "evaluate", "--surrogate", sur, "--region", r, "--samples", "2",
                               "--max-memory", "1", "--out", str(d / "sur_eval")],
    }


def print_table(rows: dict[str, dict[int, dict]], sizes: list[int], steps: list[str]) -> None:
    """The markdown table of the measurements, with the fitted growth exponents."""
    print("\n| command | " + " | ".join(f"{n} cells: wall s / CPU s / peak GB" for n in sizes)
          + " | exponent wall / CPU / RSS |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for step in steps:
        cells, line = [], []
        for n in sizes:
            v = rows[step].get(n, {})
            if "wall_s" in v:
                cells.append(n)
                line.append(f"{v['wall_s']:.1f} / {v['cpu_s']:.1f} / {v['peak_rss_gb']:.2f}")
            else:
                line.append(v.get("skipped") or ("failed" if "failed" in v else "-"))
        ex = [fit_exponent(cells, [rows[step][n][k] for n in cells]) for k in ("wall_s", "cpu_s", "peak_rss_gb")]
        print(f"| {step} | " + " | ".join(line) + " | " + " / ".join(f"{e:.2f}" for e in ex) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="1024,4096,16384,50176")
    ap.add_argument("--years", type=float, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--max-rss-gb", type=float, default=8.0)
    ap.add_argument("--surrogate-cells", type=int, default=1024)
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--json", default=None, help="also write the measurements here")
    ap.add_argument("--from-json", default=None, metavar="FILES",
                    help="comma-separated --json files of earlier runs (e.g. the sizes run in pieces): print "
                         "their merged table and exponents, run nothing")
    args = ap.parse_args()
    if args.from_json:
        merged: dict[str, dict[int, dict]] = {}
        for f in args.from_json.split(","):
            for step, by_size in json.loads(Path(f).read_text()).items():
                merged.setdefault(step, {}).update({int(n): v for n, v in by_size.items()})
        steps = [s for s in STEPS if s in merged]
        print_table(merged, sorted({n for r in merged.values() for n in r}), steps)
        return
    exe = str(Path(sys.executable).with_name("vic-paraformer"))
    if not Path(exe).exists():
        exe = shutil.which("vic-paraformer") or exe
    sizes = [int(c) for c in args.cells.split(",")]
    steps = [s.strip() for s in args.steps.split(",")]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="vp-bench-scale-"))
    rows: dict[str, dict[int, dict]] = {s: {} for s in steps}
    env = niced_env(1)
    for n in sizes:
        d = root / f"cells_{n}"
        d.mkdir(parents=True, exist_ok=True)
        cmds = commands(exe, n, args.years, args.surrogate_cells, d)
        failed = False
        for step in steps:
            prev = [(m, v["peak_rss_gb"]) for m, v in rows[step].items() if "peak_rss_gb" in v]
            if prev:
                # the growth of the last two sizes (streamed commands grow slower than linearly),
                # linear in cells from a single size
                m1, v1 = prev[-1]
                k = math.log(v1 / prev[-2][1]) / math.log(m1 / prev[-2][0]) if len(prev) > 1 else 1.0
                predicted = v1 * (n / m1) ** max(k, 0.0)
                if predicted > args.max_rss_gb:
                    rows[step][n] = {"skipped": f"predicted {predicted:.1f} GB > {args.max_rss_gb:g} GB"}
                    print(f"{n:>6} {step:<19} skipped: predicted peak RSS {predicted:.1f} GB", flush=True)
                    failed = True
                    continue
            if failed:
                rows[step][n] = {"skipped": "an earlier step did not run"}
                continue
            m = run_measured(["nice", "-n", "10", *cmds[step]], env=env)
            if m.returncode != 0:
                rows[step][n] = {"failed": m.output.strip().splitlines()[-1:] or ["?"]}
                print(f"{n:>6} {step:<19} FAILED rc={m.returncode}: {m.output[-400:]}", flush=True)
                failed = True
                continue
            rows[step][n] = {"wall_s": m.wall_s, "cpu_s": m.cpu_s, "peak_rss_gb": m.peak_rss_gb,
                             "processes": m.processes}
            print(f"{n:>6} {step:<19} wall {m.wall_s:8.1f} s  cpu {m.cpu_s:8.1f} s  peak RSS {m.peak_rss_gb:6.2f} GB"
                  f"  ({m.processes} processes)", flush=True)
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)

    print_table(rows, sizes, steps)
    if args.json:
        Path(args.json).write_text(json.dumps({s: {str(n): v for n, v in r.items()} for s, r in rows.items()}, indent=1))
    if not args.keep and args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
