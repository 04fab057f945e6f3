"""Read a VIC 5 image-driver global parameter file and write per-run copies of it.

The file is kept as an ordered list of :class:`GlobalLine` objects, never a dict: keys repeat
(``OUTVAR``, ``FORCE_TYPE``, ``DOMAIN_TYPE``), keys are case-insensitive and comments matter to
the user. ``${NAME}`` placeholders (VIC does not expand them) are substituted from a mapping,
then from the environment, only on the lines that are actually used: a placeholder on a line we
override (e.g. ``RESULT_DIR ${VIC_SAMPLE_RESULTS}``) never needs a value.

:meth:`GlobalParamFile.for_run` renders the file for one run. It overrides only what this
package owns and keeps every other line as the user wrote it (placeholders substituted):

* ``PARAMETERS`` (the per-run parameter file), ``RESULT_DIR`` and ``LOG_DIR`` (inside the run
  directory), the period (``STARTYEAR``/``STARTMONTH``/``STARTDAY``/``STARTSEC``,
  ``ENDYEAR``/``ENDMONTH``/``ENDDAY``; a ``NRECS`` line is replaced by the END keys),
  ``STATENAME`` (redirected into the run directory so parallel runs never share a state file);
* for spin-up (``init_state`` / ``save_state``): ``INIT_STATE`` (start from a state file) and
  ``STATENAME`` + ``STATEYEAR``/``STATEMONTH``/``STATEDAY``/``STATESEC`` (save the state at the end
  of a given day, i.e. at 00000 s of the next day, which VIC names ``<prefix>.YYYYMMDD_00000.nc``);
* one extra output stream appended at the end: ``OUTFILE <prefix>`` with ``AGGFREQ NDAYS 1``,
  ``HISTFREQ END`` and the variables in :data:`RUN_OUTVARS`;
* optionally (``keep_user_outputs=False``) the user's own output-stream lines are commented out.

Replaced lines are written as the new line followed by ``# vic_paraformer (was: ...)``; a
repeated owned key is commented out. Errors are :class:`GlobalFileError` naming the file and line.

Relative paths
    VIC opens the files a global file names relative to the folder it is *started from*. A setup
    is usually run from the folder of its global file, so relative paths in ``DOMAIN``,
    ``PARAMETERS``, ``FORCING1``/``FORCING2`` (prefixes), ``INIT_STATE``, ``CONSTANTS``,
    ``RESULT_DIR``, ``LOG_DIR`` and ``STATENAME`` are taken relative to the **folder of the global
    file** (after placeholder substitution), whatever the current folder. Per-run copies name every
    such file by its absolute path, so runs work from any run directory.

Placeholders
    A ``${NAME}`` without a value is an error on a line the run uses, and a logged warning (once)
    on a line that is not used (a key this package overrides, a commented-out output stream):
    :meth:`GlobalParamFile.check_placeholders`.

Long module (over 400 lines): the whole grammar of a VIC global parameter file (ordered lines,
sections, periods, output streams) in one reader and writer.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import VICError

log = logging.getLogger(__name__)

#: Output variables of the stream added for each run (daily sums for fluxes, end-of-day states).
RUN_OUTVARS: tuple[str, ...] = ("OUT_SOIL_MOIST", "OUT_EVAP", "OUT_RUNOFF", "OUT_BASEFLOW", "OUT_PREC",
                                "OUT_SWE", "OUT_WDEW", "OUT_SNOW_CANOPY")
#: OUTFILE prefix of the stream added for each run.
RUN_OUTFILE = "vicpf_daily"

REQUIRED_KEYS: tuple[str, ...] = ("MODEL_STEPS_PER_DAY", "SNOW_STEPS_PER_DAY", "RUNOFF_STEPS_PER_DAY",
                                  "STARTYEAR", "STARTMONTH", "STARTDAY", "FORCING1", "DOMAIN", "PARAMETERS")
DOMAIN_TYPES: tuple[str, ...] = ("LAT", "LON", "MASK", "AREA", "FRAC", "YDIM", "XDIM")
FORCE_TYPES: tuple[str, ...] = ("AIR_TEMP", "PREC", "PRESSURE", "SWDOWN", "LWDOWN", "VP", "WIND")
PERIOD_KEYS: tuple[str, ...] = ("STARTYEAR", "STARTMONTH", "STARTDAY", "STARTSEC", "ENDYEAR", "ENDMONTH",
                                "ENDDAY", "NRECS")
OWNED_KEYS: tuple[str, ...] = ("PARAMETERS", "RESULT_DIR", "LOG_DIR", "STATENAME") + PERIOD_KEYS
OUTPUT_STREAM_KEYS: tuple[str, ...] = ("OUTFILE", "AGGFREQ", "HISTFREQ", "COMPRESS", "OUT_FORMAT", "OUTVAR")
#: Keys whose first value is a file or folder path (relative ones are relative to the global file).
PATH_KEYS: tuple[str, ...] = ("DOMAIN", "PARAMETERS", "FORCING1", "FORCING2", "INIT_STATE", "CONSTANTS",
                              "RESULT_DIR", "LOG_DIR", "STATENAME")
_warned_placeholders: set[tuple[str, str]] = set()
SUPPORTED_CALENDARS = ("STANDARD", "GREGORIAN", "PROLEPTIC_GREGORIAN")

_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VAR_RE = re.compile(r"\$\{([^}]*)\}")


class GlobalFileError(VICError):
    """A global parameter file is malformed, incomplete, or names files that do not exist."""


@dataclass
class GlobalLine:
    """One line of a global parameter file.

    ``text`` is the line as written (no newline); ``code`` the part before a ``#`` comment;
    ``key`` the upper-cased first token of ``code`` (None for blank and comment lines);
    ``lineno`` is 1-based.
    """

    text: str
    lineno: int
    code: str = field(init=False)
    key: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.code = self.text.split("#", 1)[0].rstrip()
        tokens = self.code.split()
        self.key = tokens[0].upper() if tokens else None

    @property
    def comment(self) -> str:
        """The ``#`` comment of the line ('' if none)."""
        i = self.text.find("#")
        return self.text[i:] if i >= 0 else ""


@dataclass(frozen=True)
class Period:
    """Inclusive simulation period in whole days."""

    start: _dt.date
    end: _dt.date

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def years(self) -> range:
        return range(self.start.year, self.end.year + 1)


class GlobalParamFile:
    """A VIC 5 image-driver global parameter file as ordered lines.

    Parameters
    ----------
    lines:
        The file's lines (without newlines).
    path:
        Where it came from (used in error messages; relative paths inside the file are resolved
        against its folder, see the module docstring). ``"<string>"``: the current folder.
    variables:
        Values for ``${NAME}`` placeholders; the environment is consulted after this mapping.
    """

    def __init__(self, lines: Sequence[str], path: str | Path = "<string>",
                 variables: Mapping[str, str] | None = None) -> None:
        self.path = str(path)
        self.base_dir = Path(path).resolve().parent if str(path) != "<string>" else Path.cwd()
        self.variables: dict[str, str] = {str(k): str(v) for k, v in (variables or {}).items()}
        self.lines: list[GlobalLine] = [GlobalLine(t, i + 1) for i, t in enumerate(lines)]
        for ln in self.lines:
            if ln.key is not None and not _KEY_RE.match(ln.key):
                raise self._err(ln, f"malformed line {ln.text.strip()!r}: expected 'KEY value ...' "
                                    "(a key of letters, digits and underscores) or a '#' comment")

    # ------------------------------------------------------------------ construction
    @classmethod
    def read(cls, path: str | Path, variables: Mapping[str, str] | None = None) -> "GlobalParamFile":
        """Read ``path``; raises GlobalFileError if it is missing or not text."""
        p = Path(path)
        if not p.is_file():
            raise GlobalFileError(f"{p}: global parameter file not found")
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            raise GlobalFileError(f"{p}: not a text file; expected a VIC global parameter file") from None
        return cls(text.splitlines(), path=p.resolve(), variables=variables)

    # ------------------------------------------------------------------ helpers
    def _err(self, line: GlobalLine | None, msg: str) -> GlobalFileError:
        where = f"{self.path}:{line.lineno}" if line is not None else self.path
        return GlobalFileError(f"{where}: {msg}")

    def substitute(self, line: GlobalLine, text: str | None = None) -> str:
        """``text`` (default: the line's code) with ``${NAME}`` replaced; error if a name is unknown."""
        text = line.code if text is None else text

        def repl(m: re.Match) -> str:
            name = m.group(1)
            if name in self.variables:
                return self.variables[name]
            if name in os.environ:
                return os.environ[name]
            raise self._err(line, f"placeholder ${{{name}}} has no value (VIC does not expand it); "
                                  f"set it with --var {name}=VALUE or the environment variable {name}")

        return _VAR_RE.sub(repl, text)

    def resolve_path(self, value: str) -> Path:
        """``value`` as an absolute path: relative paths are relative to the global file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def unfilled_placeholders(self, line: GlobalLine) -> list[str]:
        """Names of the ``${NAME}`` placeholders of ``line`` that have no value."""
        return [m.group(1) for m in _VAR_RE.finditer(line.code)
                if m.group(1) not in self.variables and m.group(1) not in os.environ]

    def is_used(self, line: GlobalLine, *, keep_user_outputs: bool = False) -> bool:
        """Whether a per-run copy (:meth:`for_run`) keeps ``line`` (else it is overridden or disabled)."""
        if line.key is None:
            return False
        if line.key in OWNED_KEYS:
            return line.key == "PARAMETERS" and line is self.line("PARAMETERS", required=False)
        return keep_user_outputs or line.key not in OUTPUT_STREAM_KEYS

    def check_placeholders(self, *, keep_user_outputs: bool = False) -> None:
        """Raise GlobalFileError for an unfilled placeholder on a used line; warn (once) for unused ones."""
        unused: dict[str, list[int]] = {}
        for ln in self.lines:
            names = self.unfilled_placeholders(ln)
            if not names:
                continue
            if self.is_used(ln, keep_user_outputs=keep_user_outputs):
                self.substitute(ln)  # raises, naming the line and the placeholder
            for n in names:
                unused.setdefault(n, []).append(ln.lineno)
        for name, lines in unused.items():
            if (self.path, name) in _warned_placeholders:
                continue
            _warned_placeholders.add((self.path, name))
            log.warning("%s: placeholder ${%s} has no value on line(s) %s; those lines are not used for runs "
                        "(overridden or disabled), so it is ignored", self.path, name,
                        ", ".join(map(str, lines)))

    def find(self, key: str) -> list[GlobalLine]:
        """All lines with ``key`` (case-insensitive), in file order."""
        key = key.upper()
        return [ln for ln in self.lines if ln.key == key]

    def line(self, key: str, required: bool = True) -> GlobalLine | None:
        """The line that sets ``key`` (the last one if repeated, as VIC reads it)."""
        found = self.find(key)
        if not found:
            if required:
                raise self._err(None, f"missing required key {key.upper()}")
            return None
        return found[-1]

    def values(self, key: str, required: bool = True, n: int = 1) -> list[str] | None:
        """The substituted value tokens of ``key`` (at least ``n`` of them)."""
        ln = self.line(key, required)
        if ln is None:
            return None
        tokens = self.substitute(ln).split()[1:]
        if len(tokens) < n:
            raise self._err(ln, f"{key.upper()} needs {n} value(s), got {len(tokens)}: {ln.text.strip()!r}")
        return tokens

    def value(self, key: str, required: bool = True) -> str | None:
        v = self.values(key, required)
        return None if v is None else v[0]

    def int_value(self, key: str, required: bool = True) -> int | None:
        v = self.value(key, required)
        if v is None:
            return None
        try:
            return int(v)
        except ValueError:
            raise self._err(self.line(key), f"{key.upper()} must be an integer, got {v!r}") from None

    # ------------------------------------------------------------------ resolved settings
    def validate(self) -> None:
        """Raise GlobalFileError for the first missing required key or DOMAIN_TYPE/FORCE_TYPE."""
        for key in REQUIRED_KEYS:
            self.line(key)
        if not self.find("NRECS") and not self.find("ENDYEAR"):
            raise self._err(None, "missing the end of the period: ENDYEAR/ENDMONTH/ENDDAY or NRECS")
        self.domain_types()
        self.force_types()
        self.steps_per_day()
        self.period()

    def steps_per_day(self) -> dict[str, int]:
        """``{"model": .., "snow": .., "runoff": ..}`` steps per day (snow = forcing step)."""
        out = {}
        for name, key in (("model", "MODEL_STEPS_PER_DAY"), ("snow", "SNOW_STEPS_PER_DAY"),
                          ("runoff", "RUNOFF_STEPS_PER_DAY")):
            v = self.int_value(key)
            if v is None or v < 1 or 24 % v and v % 24:
                raise self._err(self.line(key), f"{key} must be a positive divisor or multiple of 24, got {v}")
            out[name] = v
        return out

    @property
    def calendar(self) -> str:
        cal = (self.value("CALENDAR", required=False) or "STANDARD").upper()
        if cal not in SUPPORTED_CALENDARS:
            raise self._err(self.line("CALENDAR"), f"CALENDAR {cal} is not supported here; expected one of "
                                                   f"{', '.join(SUPPORTED_CALENDARS)}")
        return cal

    def period(self) -> Period:
        """The simulation period in whole days (from the START keys and ENDYEAR.. or NRECS)."""
        _ = self.calendar
        start = self._date("START")
        startsec = self.int_value("STARTSEC", required=False) or 0
        if startsec != 0:
            raise self._err(self.line("STARTSEC"), f"STARTSEC {startsec}: only runs starting at midnight are supported")
        if self.find("ENDYEAR"):
            end = self._date("END")
        else:
            ln = self.line("NRECS")
            nrecs = self.int_value("NRECS")
            steps = self.steps_per_day()["model"]
            days, rest = divmod(nrecs, steps)
            if days < 1:
                raise self._err(ln, f"NRECS {nrecs} is less than one day of {steps} model steps")
            if rest:
                log.warning("%s:%d: NRECS %d is not a whole number of days (%d steps/day); the last %d step(s) "
                            "are ignored", self.path, ln.lineno, nrecs, steps, rest)
            end = start + _dt.timedelta(days=days - 1)
        if end < start:
            raise self._err(self.line("ENDYEAR"), f"end of period {end} is before its start {start}")
        return Period(start, end)

    def _date(self, prefix: str) -> _dt.date:
        parts = []
        for part in ("YEAR", "MONTH", "DAY"):
            parts.append(self.int_value(prefix + part))
        try:
            return _dt.date(*parts)
        except ValueError as exc:
            raise self._err(self.line(prefix + "DAY"), f"{prefix}YEAR/MONTH/DAY {parts} is not a date ({exc})") from None

    def domain_types(self) -> dict[str, str]:
        """DOMAIN_TYPE mapping (LAT, LON, MASK, AREA, FRAC, YDIM, XDIM -> netCDF names)."""
        out = {}
        for ln in self.find("DOMAIN_TYPE"):
            tok = self.substitute(ln).split()
            if len(tok) < 3:
                raise self._err(ln, f"DOMAIN_TYPE needs a type and a variable name, got {ln.text.strip()!r}")
            out[tok[1].upper()] = tok[2]
        missing = [t for t in DOMAIN_TYPES if t not in out]
        if missing:
            raise self._err(None, f"missing DOMAIN_TYPE line(s) for {', '.join(missing)} (VIC needs all of "
                                  f"{', '.join(DOMAIN_TYPES)})")
        return out

    def force_types(self) -> dict[str, str]:
        """FORCE_TYPE mapping of the FORCING1 block (VIC name -> variable name in the file)."""
        out: dict[str, str] = {}
        block = 0
        for ln in self.lines:
            if ln.key == "FORCING1":
                block = 1
            elif ln.key is not None and ln.key.startswith("FORCING") and ln.key[7:].isdigit():
                block = int(ln.key[7:])
            elif ln.key == "FORCE_TYPE" and block == 1:
                tok = self.substitute(ln).split()
                if len(tok) < 3:
                    raise self._err(ln, f"FORCE_TYPE needs a VIC name and a variable name, got {ln.text.strip()!r}")
                out[tok[1].upper()] = tok[2]
        missing = [t for t in FORCE_TYPES if t not in out]
        if missing:
            raise self._err(self.line("FORCING1"),
                            f"FORCING1 has no FORCE_TYPE line for {', '.join(missing)}")
        return out

    @property
    def forcing_prefix(self) -> str:
        """The FORCING1 prefix (absolute): VIC opens ``<prefix>YYYY.nc`` for each year."""
        raw = self.value("FORCING1")
        p = str(self.resolve_path(raw))
        return p + "/" if raw.endswith("/") and not p.endswith("/") else p

    def forcing_files(self, years: Iterable[int] | None = None) -> dict[int, Path]:
        """The forcing file of each year of ``years`` (default: the period); error if one is missing."""
        years = list(self.period().years if years is None else years)
        ln = self.line("FORCING1")
        out = {}
        for y in years:
            p = Path(f"{self.forcing_prefix}{y}.nc")
            if not p.is_file():
                raise self._err(ln, f"forcing file for year {y} not found: {p} (FORCING1 is a prefix; VIC "
                                    f"opens <prefix>YYYY.nc for every year of the period)")
            out[y] = p
        return out

    def _existing_file(self, key: str) -> Path:
        raw = self.value(key)
        p = self.resolve_path(raw)
        if not p.is_file():
            extra = f" ({raw!r} is relative to the global file's folder {self.base_dir})" \
                if not Path(raw).expanduser().is_absolute() else ""
            raise self._err(self.line(key), f"{key} file not found: {p}{extra}")
        return p

    @property
    def parameters_path(self) -> Path:
        """The PARAMETERS netCDF (must exist)."""
        return self._existing_file("PARAMETERS")

    @property
    def domain_path(self) -> Path:
        """The DOMAIN netCDF (must exist)."""
        return self._existing_file("DOMAIN")

    @property
    def baseflow(self) -> str:
        return (self.value("BASEFLOW", required=False) or "ARNO").upper()

    @property
    def has_init_state(self) -> bool:
        return bool(self.find("INIT_STATE"))

    # ------------------------------------------------------------------ rendering
    def for_run(self, *, parameters: str | Path, result_dir: str | Path, log_dir: str | Path,
                period: Period | None = None, outfile: str = RUN_OUTFILE,
                outvars: Sequence[str] = RUN_OUTVARS, state_dir: str | Path | None = None,
                keep_user_outputs: bool = True, init_state: str | Path | None = None,
                save_state: tuple[str | Path, _dt.date] | None = None) -> str:
        """Text of a global file for one run (see the module docstring for what is overridden).

        ``init_state`` starts the run from that state file; ``save_state = (prefix, day)`` writes the
        state at the end of ``day`` to ``prefix.<day + 1 as YYYYMMDD>_00000.nc``. Every path must be
        free of spaces (VIC cannot read them).
        """
        period = period or self.period()
        paths = {"PARAMETERS": str(parameters), "RESULT_DIR": str(result_dir).rstrip("/") + "/",
                 "LOG_DIR": str(log_dir).rstrip("/") + "/"}
        for key, p in paths.items():
            if any(c.isspace() for c in p):
                raise GlobalFileError(f"{key} path {p!r} contains a space; VIC cannot read such paths")
        new: dict[str, list[str]] = {
            "PARAMETERS": [f"PARAMETERS {paths['PARAMETERS']}"],
            "RESULT_DIR": [f"RESULT_DIR {paths['RESULT_DIR']}"],
            "LOG_DIR": [f"LOG_DIR {paths['LOG_DIR']}"],
            "STARTYEAR": [f"STARTYEAR {period.start.year}"],
            "STARTMONTH": [f"STARTMONTH {period.start.month:02d}"],
            "STARTDAY": [f"STARTDAY {period.start.day:02d}"],
            "STARTSEC": ["STARTSEC 0"],
            "ENDYEAR": [f"ENDYEAR {period.end.year}"],
            "ENDMONTH": [f"ENDMONTH {period.end.month:02d}"],
            "ENDDAY": [f"ENDDAY {period.end.day:02d}"],
        }
        statename = self.line("STATENAME", required=False)
        if statename is not None:
            sdir = Path(state_dir) if state_dir is not None else Path(result_dir).parent / "states"
            tok = self.substitute(statename).split()
            name = Path(tok[1]).name if len(tok) > 1 else "state"
            if len(tok) > 1 and not Path(tok[1]).name:
                name = "state"
            new["STATENAME"] = [f"STATENAME {sdir / name}"]
        owned = OWNED_KEYS
        for key, p in (("INIT_STATE", init_state), ("STATENAME", save_state[0] if save_state else None)):
            if p is not None and any(c.isspace() for c in str(p)):
                raise GlobalFileError(f"{key} path {str(p)!r} contains a space; VIC cannot read such paths")
        if init_state is not None:
            owned = owned + ("INIT_STATE",)
            new["INIT_STATE"] = [f"INIT_STATE {init_state}"]
        if save_state is not None:
            owned = owned + ("STATEYEAR", "STATEMONTH", "STATEDAY", "STATESEC")
            at = save_state[1] + _dt.timedelta(days=1)
            new["STATENAME"] = [f"STATENAME {save_state[0]}"]
            new.update({"STATEYEAR": [f"STATEYEAR {at.year}"], "STATEMONTH": [f"STATEMONTH {at.month:02d}"],
                        "STATEDAY": [f"STATEDAY {at.day:02d}"], "STATESEC": ["STATESEC 0"]})
        # NRECS is replaced by the END keys, at the place of the NRECS line.
        if self.find("NRECS") and not self.find("ENDYEAR"):
            new["NRECS"] = new.pop("ENDYEAR") + new.pop("ENDMONTH") + new.pop("ENDDAY")
        done: set[str] = set()
        out: list[str] = []
        for ln in self.lines:
            key = ln.key
            if key in owned:
                if key in new and key not in done:
                    done.add(key)
                    for i, text in enumerate(new[key]):
                        out.append(f"{text}  # vic_paraformer (was: {ln.text.strip()})" if i == 0 else text)
                else:
                    out.append(f"# vic_paraformer (overridden): {ln.text}")
                continue
            if key in OUTPUT_STREAM_KEYS and not keep_user_outputs:
                out.append(f"# vic_paraformer (user output disabled): {ln.text}")
                continue
            if key is None:
                out.append(ln.text)
            elif key in PATH_KEYS and len(self.substitute(ln).split()) > 1:
                tok = self.substitute(ln).split()
                absolute = str(self.resolve_path(tok[1]))
                if tok[1].endswith("/") and not absolute.endswith("/"):
                    absolute += "/"
                if any(c.isspace() for c in absolute):
                    raise self._err(ln, f"{key} path {absolute!r} contains a space; VIC cannot read such paths")
                if absolute == tok[1]:
                    out.append(self.substitute(ln) + (" " + ln.comment if ln.comment else ""))
                else:
                    out.append(" ".join([tok[0], absolute] + tok[2:]) + f"  # vic_paraformer (was: {ln.text.strip()})")
            else:
                out.append(self.substitute(ln) + (" " + ln.comment if ln.comment else ""))
        rest = [t for k, texts in new.items() if k not in done for t in texts]
        out.append("")
        out.append("# ---- added by vic_paraformer for this run ----")
        out.extend(rest)
        out.append(f"OUTFILE {outfile}")
        out.append("AGGFREQ NDAYS 1")
        out.append("HISTFREQ END")
        out.append("COMPRESS FALSE")
        out.append("OUT_FORMAT NETCDF4")
        out.extend(f"OUTVAR {v}" for v in outvars)
        return "\n".join(out) + "\n"
