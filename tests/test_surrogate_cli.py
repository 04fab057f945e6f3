"""``vic-paraformer surrogate train|evaluate`` end to end on a tiny synthetic region."""

from __future__ import annotations

import json


from vic_paraformer.cli.main import main
from vic_paraformer.region import Region
from vic_paraformer.surrogate import Surrogate, TrainingStore



def test_cli_train_then_evaluate(synthetic_tiny, tmp_path, capsys):
    region_nc = synthetic_tiny.save(tmp_path / "region.nc")
    before = region_nc.read_bytes()
    out = tmp_path / "s.pt"
    rc = main(["surrogate", "train", "--region", str(region_nc), "--samples", "8", "--out", str(out), "--preset", "test",
               "--epochs", "2", "--hidden", "8", "--store", str(tmp_path / "store"), "--threads", "1", "--seed", "3",
               "--no-progress"])
    assert rc == 0
    assert "written" in capsys.readouterr().out
    assert region_nc.read_bytes() == before  # the user's input is never modified
    sur = Surrogate.load(out)
    assert sur.config.hidden_size == 8 and sur.simulator == "waterbalance" and sur.info["seed"] == 3
    assert TrainingStore.open(tmp_path / "store").complete
    rc = main(["surrogate", "evaluate", "--surrogate", str(out), "--region", str(region_nc), "--samples", "1",
               "--out", str(tmp_path / "rep")])
    text = capsys.readouterr().out
    assert rc == 0 and "held_out_samples" in text and "cell-days/s" in text
    report = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert set(report["summary"]) >= {"all", "held_out_samples"}
    assert (tmp_path / "rep" / "timeseries.png").exists()

    # a region with other attributes is refused with one clear line
    ds = synthetic_tiny.ds.copy()
    names = list(synthetic_tiny.attribute_names)
    names[0] = "renamed_attribute"
    Region(ds.assign_coords(attribute=names)).save(tmp_path / "other.nc")
    rc = main(["surrogate", "evaluate", "--surrogate", str(out), "--region", str(tmp_path / "other.nc")])
    err = capsys.readouterr().err
    assert rc == 1 and "renamed_attribute" in err and err.count("\n") == 1


def test_cli_missing_checkpoint(tmp_path, synthetic_tiny, capsys):
    region_nc = synthetic_tiny.save(tmp_path / "region.nc")
    rc = main(["surrogate", "evaluate", "--surrogate", str(tmp_path / "nope.pt"), "--region", str(region_nc)])
    assert rc == 1 and "nope.pt" in capsys.readouterr().err
