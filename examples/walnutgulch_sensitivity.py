"""WalnutGulch: do a surrogate's sensitivity indices agree with the real VIC's?

Two steps around the ``vic-paraformer`` commands (see docs/sensitivity.md for the whole recipe):

``region``   a twin region of the shared WalnutGulch sample (15 cells, START..END of 2008): the
             truth is the setup's parameters perturbed per cell (normalised sd 0.2, seeded), and
             ``obs_sm`` / ``obs_et`` are the truth's VIC top-layer soil moisture and ET, every day,
             at every cell (so that the terms comparing with observations exist everywhere).
``compare``  two ``indices.nc`` written by ``vic-paraformer sensitivity`` (one through VIC, one
             through a surrogate): per term and parameter the region medians both ways, and the
             agreement over cells x parameters (Spearman rank correlation, the share of cells whose
             most influential parameter is the same, the median over cells of the Spearman rank
             correlation across parameters, and the share of cells x parameters whose identifiable
             flag -- the lower end of ST's 95 % interval above 0.05 -- agrees).

::

    VIC_IMAGE_EXE=/opt/vic/bin/vic_image.exe python examples/walnutgulch_sensitivity.py region --out wg/region.nc
    python examples/walnutgulch_sensitivity.py compare wg/vic/indices.nc wg/sur/indices.nc
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import vic_paraformer as vp
from vic_paraformer.sensitivity import identifiable, open_indices
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic import region_from_vic

SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA", "/work/shared/vic-sample-data"))
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"


def make_region(args: argparse.Namespace) -> None:
    exe = os.environ.get("VIC_IMAGE_EXE", "/opt/vic/bin/vic_image.exe")
    region = region_from_vic(WALNUT, variables={"VIC_SAMPLE_DATA": str(SAMPLE)}, start=args.start, end=args.end)
    space = vp.ParameterSpace.preset()
    default = region.parameters(space)
    rng = np.random.default_rng(args.seed)
    truth = space.denormalize(np.clip(space.normalize(default) + 0.2 * rng.standard_normal(default.shape), 0.02, 0.98))
    twin = VICSimulator(exe=exe, spinup_years=args.spinup_years, progress=False).simulate(
        region, space.to_dataset(truth, region.cells))
    ds = region.ds.assign(obs_sm=(("cell", "time"), twin["sm"].values.astype(np.float32)),
                          obs_et=(("cell", "time"), twin["et"].values.astype(np.float32)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    vp.Region(ds).with_training_cells(region.cells).save(args.out)
    print(f"written {args.out}: {region.n_cells} cells, {len(region.times)} days")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def compare(args: argparse.Namespace) -> None:
    ref, sur = open_indices(args.reference), open_indices(args.other)
    index = "ST" if "ST" in ref["index"].values else "mu_star"
    first = "S1" if index == "ST" else None
    cells = np.intersect1d(ref["cell"].values, sur["cell"].values)
    terms = [t for t in ref["term"].values if t in sur["term"].values]
    params = list(ref["parameter"].values)
    print(f"{len(cells)} cells, index {index}{' and ' + first if first else ''}; medians over cells: "
          f"reference / other")
    print("| term | index | " + " | ".join(params) + " | Spearman (cells x parameters) | same top parameter | "
          "Spearman per cell (median) | same identifiable flag |")
    print("|---|---|" + "---|" * len(params) + "---|---|---|---|")
    for term in terms:
        for name in [index] + ([first] if first else []):
            a = ref["indices"].sel(term=term, index=name, cell=cells).transpose("cell", "parameter").values
            b = sur["indices"].sel(term=term, index=name, cell=cells).transpose("cell", "parameter").values
            if not (np.isfinite(a).any() and np.isfinite(b).any()):
                continue
            med = " | ".join(f"{np.nanmedian(a[:, j]):.2f} / {np.nanmedian(b[:, j]):.2f}" for j in range(len(params)))
            ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
            top = float(np.mean(np.argmax(a[ok], 1) == np.argmax(b[ok], 1))) if ok.any() else float("nan")
            per_cell = np.nanmedian([_spearman(a[i], b[i]) for i in range(len(cells))])
            flags = ""
            if name == "ST" and ok.any():  # the library's rule: the lower end of ST's 95 % interval above 0.05
                fa = identifiable(ref.sel(cell=cells), term=term).transpose("cell", "parameter").values
                fb = identifiable(sur.sel(cell=cells), term=term).transpose("cell", "parameter").values
                flags = f"{np.mean(fa[ok] == fb[ok]):.0%}"
            print(f"| {term} | {name} | {med} | {_spearman(a.ravel(), b.ravel()):.2f} | {top:.0%} | {per_cell:.2f} | "
                  f"{flags} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("region", help="write the twin region")
    r.add_argument("--out", required=True)
    r.add_argument("--start", default="2008-01-01")
    r.add_argument("--end", default="2008-06-30")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--spinup-years", type=int, default=1)
    r.set_defaults(func=make_region)
    c = sub.add_parser("compare", help="compare two indices.nc")
    c.add_argument("reference", help="indices.nc through VIC")
    c.add_argument("other", help="indices.nc through the surrogate")
    c.set_defaults(func=compare)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
