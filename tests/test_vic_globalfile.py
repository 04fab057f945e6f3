"""Global parameter file handling (no VIC needed)."""

from __future__ import annotations

import os
import datetime as dt
from pathlib import Path

import pytest

from vic_paraformer.vic.globalfile import (OUTPUT_STREAM_KEYS, OWNED_KEYS, RUN_OUTFILE, RUN_OUTVARS, GlobalFileError,
                                           GlobalParamFile, Period)

SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
needs_sample = pytest.mark.skipif(not (SAMPLE / "image").is_dir(), reason=f"VIC sample data not found at {SAMPLE}")
VARS = {"VIC_SAMPLE_DATA": str(SAMPLE)}
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
STEHEKIN = SAMPLE / "image/Stehekin/parameters/global_param.Stehekin.MOD_IGBP.txt"

MINIMAL = """\
# a comment line
model_steps_per_day 24   # lower-case key
SNOW_STEPS_PER_DAY 24
RUNOFF_STEPS_PER_DAY 24
STARTYEAR 2000
STARTMONTH 1
STARTDAY 1
NRECS 72
FORCING1 ${DATA}/forc.
FORCE_TYPE AIR_TEMP tas
FORCE_TYPE PREC prcp
FORCE_TYPE PRESSURE pres
FORCE_TYPE SWDOWN sw
FORCE_TYPE LWDOWN lw
FORCE_TYPE VP vp
FORCE_TYPE WIND wind
DOMAIN ${DATA}/domain.nc
DOMAIN_TYPE LAT lat
DOMAIN_TYPE LON lon
DOMAIN_TYPE MASK mask
DOMAIN_TYPE AREA area
DOMAIN_TYPE FRAC frac
DOMAIN_TYPE YDIM lat
DOMAIN_TYPE XDIM lon
PARAMETERS ${DATA}/params.nc
RESULT_DIR ${NOT_SET_ANYWHERE}/out
OUTVAR OUT_SWE
"""


def _gf(text: str = MINIMAL, **variables) -> GlobalParamFile:
    return GlobalParamFile(text.splitlines(), path="mem.txt", variables=variables or {"DATA": "/data"})


def test_lines_keys_and_repeats():
    gf = _gf()
    assert gf.lines[0].key is None and gf.lines[0].text == "# a comment line"
    assert gf.int_value("MODEL_STEPS_PER_DAY") == 24  # case-insensitive
    assert len(gf.find("force_type")) == 7 and len(gf.find("DOMAIN_TYPE")) == 7
    assert gf.force_types()["PREC"] == "prcp"
    assert gf.domain_types()["MASK"] == "mask"
    assert gf.forcing_prefix == "/data/forc."
    assert gf.steps_per_day() == {"model": 24, "snow": 24, "runoff": 24}


def test_nrecs_period_and_whole_days():
    p = _gf().period()
    assert p == Period(dt.date(2000, 1, 1), dt.date(2000, 1, 3)) and p.n_days == 3


def test_end_date_period():
    text = MINIMAL.replace("NRECS 72", "ENDYEAR 2001\nENDMONTH 2\nENDDAY 28")
    p = _gf(text).period()
    assert p.end == dt.date(2001, 2, 28) and list(p.years) == [2000, 2001]


def test_substitution_from_mapping_then_environment(monkeypatch):
    monkeypatch.setenv("DATA", "/from/env")
    assert _gf(DATA="/mapped").value("PARAMETERS") == "/mapped/params.nc"
    gf = GlobalParamFile(MINIMAL.splitlines(), path="mem.txt")
    assert gf.value("PARAMETERS") == "/from/env/params.nc"


def test_unresolved_placeholder_names_file_and_line(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(GlobalFileError, match=r"mem\.txt:26: .*NOT_SET_ANYWHERE"):
        _gf().value("RESULT_DIR")


def test_malformed_line_names_file_and_line():
    with pytest.raises(GlobalFileError, match=r"mem\.txt:3: malformed line"):
        _gf(MINIMAL.replace("SNOW_STEPS_PER_DAY 24", "=SNOW 24"))


def test_non_integer_value_names_line():
    with pytest.raises(GlobalFileError, match=r"mem\.txt:6: STARTMONTH must be an integer"):
        _gf(MINIMAL.replace("STARTMONTH 1", "STARTMONTH jan")).period()


@pytest.mark.parametrize("key", ["PARAMETERS", "DOMAIN", "SNOW_STEPS_PER_DAY", "FORCING1"])
def test_missing_required_key(key):
    text = "\n".join(ln for ln in MINIMAL.splitlines() if not ln.upper().startswith(key + " "))
    with pytest.raises(GlobalFileError, match=f"missing required key {key}"):
        _gf(text).validate()


def test_missing_domain_and_force_types():
    text = MINIMAL.replace("DOMAIN_TYPE FRAC frac\n", "")
    with pytest.raises(GlobalFileError, match="DOMAIN_TYPE.*FRAC"):
        _gf(text).domain_types()
    text = MINIMAL.replace("FORCE_TYPE VP vp\n", "")
    with pytest.raises(GlobalFileError, match=r"mem\.txt:9: FORCING1 has no FORCE_TYPE line for VP"):
        _gf(text).force_types()


def test_missing_end_of_period():
    text = MINIMAL.replace("NRECS 72\n", "")
    with pytest.raises(GlobalFileError, match="ENDYEAR/ENDMONTH/ENDDAY or NRECS"):
        _gf(text).validate()


def test_unsupported_calendar():
    with pytest.raises(GlobalFileError, match="CALENDAR NOLEAP is not supported"):
        _gf(MINIMAL + "CALENDAR noleap\n").period()


def test_missing_forcing_year(tmp_path):
    (tmp_path / "forc.2000.nc").write_bytes(b"")
    text = MINIMAL.replace("NRECS 72", "ENDYEAR 2001\nENDMONTH 1\nENDDAY 2")
    gf = _gf(text, DATA=str(tmp_path))
    with pytest.raises(GlobalFileError, match=r"mem\.txt:\d+: forcing file for year 2001 not found: .*forc\.2001\.nc"):
        gf.forcing_files()


def test_read_missing_file(tmp_path):
    with pytest.raises(GlobalFileError, match="global parameter file not found"):
        GlobalParamFile.read(tmp_path / "nope.txt")


def _kept_lines_in_order(gf: GlobalParamFile, rendered: str, keep_user_outputs: bool) -> None:
    owned = set(OWNED_KEYS) | (set() if keep_user_outputs else set(OUTPUT_STREAM_KEYS))
    out = rendered.splitlines()
    pos = 0
    for ln in gf.lines:
        if ln.key in owned:
            continue
        expected = ln.text if ln.key is None else gf.substitute(ln) + (" " + ln.comment if ln.comment else "")
        while pos < len(out) and out[pos] != expected:
            pos += 1
        assert pos < len(out), f"user line {ln.lineno} {ln.text!r} missing or out of order"
        pos += 1


def test_for_run_overrides_only_owned_keys(tmp_path):
    gf = _gf()
    period = Period(dt.date(2000, 1, 2), dt.date(2000, 1, 3))
    text = gf.for_run(parameters=tmp_path / "p.nc", result_dir=tmp_path / "res", log_dir=tmp_path / "logs",
                      period=period)
    _kept_lines_in_order(gf, text, keep_user_outputs=True)
    new = GlobalParamFile(text.splitlines(), path="run.txt")
    assert new.value("PARAMETERS") == str(tmp_path / "p.nc")
    assert new.value("RESULT_DIR") == str(tmp_path / "res") + "/"
    assert new.value("LOG_DIR") == str(tmp_path / "logs") + "/"
    assert new.period() == period
    assert not new.find("NRECS")  # replaced by the END keys
    assert new.find("OUTFILE")[-1].code.split()[1] == RUN_OUTFILE
    assert [ln.code.split()[1] for ln in new.find("OUTVAR")][-len(RUN_OUTVARS):] == list(RUN_OUTVARS)
    assert new.values("AGGFREQ") == ["NDAYS", "1"]
    # the user's own OUTVAR stays, ours comes after it
    assert [ln.code.split()[1] for ln in new.find("OUTVAR")][0] == "OUT_SWE"


def test_for_run_rejects_spaces(tmp_path):
    with pytest.raises(GlobalFileError, match="contains a space"):
        _gf().for_run(parameters="/a b/p.nc", result_dir=tmp_path, log_dir=tmp_path)


@needs_sample
@pytest.mark.parametrize("path", [WALNUT, STEHEKIN], ids=["walnutgulch", "stehekin"])
@pytest.mark.parametrize("keep", [True, False])
def test_sample_files_keep_every_user_line(path, keep, tmp_path):
    gf = GlobalParamFile.read(path, VARS)
    gf.validate()
    text = gf.for_run(parameters=tmp_path / "p.nc", result_dir=tmp_path / "r", log_dir=tmp_path / "l",
                      keep_user_outputs=keep)
    _kept_lines_in_order(gf, text, keep_user_outputs=keep)
    assert "${" not in "\n".join(ln.split("#", 1)[0] for ln in text.splitlines())
    new = GlobalParamFile(text.splitlines(), path="run.txt")
    assert new.period() == gf.period()
    n_user_outvars = len(gf.find("OUTVAR"))
    assert len(new.find("OUTVAR")) == (n_user_outvars if keep else 0) + len(RUN_OUTVARS)
    assert new.force_types() == gf.force_types() and new.domain_types() == gf.domain_types()


@needs_sample
def test_sample_settings():
    gf = GlobalParamFile.read(WALNUT, VARS)
    assert gf.steps_per_day()["snow"] == 8
    assert gf.period() == Period(dt.date(2008, 1, 1), dt.date(2008, 1, 10))
    assert gf.parameters_path.name == "params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
    assert set(gf.forcing_files()) == {2008}
    assert gf.force_types()["AIR_TEMP"] == "temp"
