"""Time series from delimited files: a table of timestamps and numeric columns → a clean, ordered series.

    table = read_series("prices.csv", time_col="Date")          # every column; missing cells are NaN
    s = select(table, target="Close", features=("Volume",), fill="drop")
    s.values  # (N, F) float64, column 0 is the target; s.times (N,); s.lines (N,) file line of each row

What the reader guarantees, and what it refuses (``DataError`` naming file:line and the fix):

* Times are parsed with one format detected from the first row (ISO dates and datetimes, ``YYYYMMDD``,
  years, ``YYYY-MM``, ``YYYYQn``, ``MM/DD/YYYY``, ``DD.MM.YYYY``, ``YYYY.MM.DD``, ``Jan-1-1995``,
  ``2023년 11월 1일``); a row that does not parse is an error.
* Order: a file written newest-first is reversed (and says so in ``notes``); any other backwards step is an
  error unless ``sort=True``. Duplicate timestamps are always an error (which row to keep is the user's call).
* Missing cells (empty, ``null``, ``NA``, ``NaN``, ``-``, ...) become NaN; ``select`` then fails on the first
  row with a missing value, or forward-fills (``fill="ffill"``) or drops the rows (``fill="drop"``).
* A non-numeric cell is remembered per column and is an error only when that column is used.
* Gaps (steps missing for the inferred frequency; for business-daily data, weekdays with no row) are
  reported, never silently filled.

Series that ship inside statsmodels (``sunspots``, ``co2``, ``elnino``) are read from its package folder,
so forecasting can be tried offline without any download; the registry lists them like any dataset.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from seqlab.data.readers import _csv_rows, read_text
from seqlab.errors import DataError

__all__ = [
    "FILLS",
    "Frequency",
    "SeriesTable",
    "Series",
    "PACKAGED",
    "read_series",
    "select",
    "infer_frequency",
    "find_gaps",
    "future_times",
    "format_time",
    "packaged_path",
    "read_stock_csv",
    "read_sunspots",
    "read_co2",
    "read_elnino",
]

FILLS = ("error", "ffill", "drop")
MISSING = frozenset({"", "null", "none", "na", "n/a", "nan", "#n/a", "-", "--", "."})
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_DAY = np.timedelta64(1, "D")


# ---------------------------------------------------------------------------------------------------------
# Tables and series


@dataclass(frozen=True)
class Frequency:
    name: str  # yearly | quarterly | monthly | weekly | daily | business-daily | hourly | irregular | steps
    season: int  # the natural seasonal period m in steps (1: no seasonality assumed)


@dataclass(frozen=True)
class SeriesTable:
    """A whole file as read: every non-time column as float64 with NaN for missing cells."""

    file: str  # what error messages name
    time_col: str | None  # None: the file has no time column, rows are steps 0..N-1
    times: np.ndarray  # (N,) datetime64[s]; int64 step numbers when time_col is None
    lines: np.ndarray  # (N,) int64 1-based line of each row in the file
    columns: dict[str, np.ndarray]  # name -> (N,) float64, NaN where the cell was missing
    bad_cells: dict[str, tuple[int, str]]  # column -> (line, text) of its first non-numeric cell
    header_line: int = 1  # the line naming the columns
    notes: tuple[str, ...] = ()  # what the reader did: reversed a newest-first file, sorted, ...
    default_target: str | None = None  # a registered dataset's usual target column
    season: int | None = None  # a registered dataset's known seasonal period (None: infer from the times)

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class Series:
    """The columns a forecaster uses, cleaned: no NaN, strictly increasing times."""

    file: str  # what error messages name
    time_col: str | None  # None: steps 0..N-1
    names: tuple[str, ...]  # (F,) column names; names[0] is the target
    times: np.ndarray  # (N,) datetime64[s] or int64 steps
    lines: np.ndarray  # (N,) 1-based file line of each row
    values: np.ndarray  # (N, F) float64
    freq: Frequency  # inferred from the times (or the dataset's known season)
    notes: tuple[str, ...] = field(default_factory=tuple)  # reader + cleaning notes, for the report

    @property
    def target(self) -> np.ndarray:
        return self.values[:, 0]  # (N,)

    def __len__(self) -> int:
        return len(self.times)


# ---------------------------------------------------------------------------------------------------------
# Time parsing: one format per file, detected from the first value


def _iso(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _strptime(fmt: str) -> Callable[[str], datetime]:
    return lambda s: datetime.strptime(s, fmt)


def _quarter(s: str) -> datetime:
    m = re.fullmatch(r"(\d{4})[-/ ]?Q([1-4])", s, re.I)
    if not m:
        raise ValueError(s)
    return datetime(int(m[1]), 3 * int(m[2]) - 2, 1)


def _korean(s: str) -> datetime:
    m = re.fullmatch(r"(\d{4})\s*년\s*(\d{1,2})\s*월(?:\s*(\d{1,2})\s*일)?", s)
    if not m:
        raise ValueError(s)
    return datetime(int(m[1]), int(m[2]), int(m[3] or 1))


# (example shown in errors, parser); order matters: the first that parses the first value wins
_TIME_FORMATS: tuple[tuple[str, Callable[[str], datetime]], ...] = (
    ("1995", lambda s: datetime(int(s), 1, 1) if re.fullmatch(r"\d{4}", s) else _fail(s)),
    ("19950131", lambda s: datetime.strptime(s, "%Y%m%d") if re.fullmatch(r"\d{8}", s) else _fail(s)),
    ("1995-01", lambda s: datetime.strptime(s, "%Y-%m") if re.fullmatch(r"\d{4}-\d{2}", s) else _fail(s)),
    ("1995Q1", _quarter),
    ("1995-01-31 or 1995-01-31T12:00", _iso),
    ("01/31/1995", _strptime("%m/%d/%Y")),
    ("31.01.1995", _strptime("%d.%m.%Y")),
    ("1995.01.31", _strptime("%Y.%m.%d")),
    ("1995/01/31", _strptime("%Y/%m/%d")),
    ("Jan-31-1995", _strptime("%b-%d-%Y")),
    ("31-Jan-1995", _strptime("%d-%b-%Y")),
    ("1995년 1월 31일", _korean),
)


def _fail(s: str):
    raise ValueError(s)


def _parse_times(raw: list[str], lines: list[int], file: str, col: str) -> np.ndarray:
    """(N,) datetime64[s] from the strings of the time column, one format for the whole file."""
    first = raw[0].strip()
    for example, parse in _TIME_FORMATS:  # noqa: B007 (the loop variables are used after the loop)
        try:
            parse(first)
        except (ValueError, OverflowError):
            continue
        break
    else:
        raise DataError(
            f"cannot read the time {first!r} in column {col!r}; write times like 2020-01-31, "
            "2020-01-31 12:00, 20200131, 2020-01 or 2020; or pass --time-col naming the time column",
            file=file, line=lines[0])
    out = np.empty(len(raw), dtype="datetime64[s]")
    for i, (s, line) in enumerate(zip(raw, lines, strict=True)):
        try:
            out[i] = np.datetime64(parse(s.strip()), "s")
        except (ValueError, OverflowError):
            raise DataError(
                f"cannot read the time {s!r} in column {col!r}: the file's first row is written like "
                f"{example}; fix or remove this row", file=file, line=line) from None
    return out


def format_time(t, freq: Frequency | None = None) -> str:
    """A timestamp as people write it at this frequency: 1995, 1995-01, 1995-01-31, 1995-01-31 12:00."""
    if isinstance(t, int | np.integer):
        return f"step {int(t)}"
    name = freq.name if freq is not None else "daily"
    if name == "yearly":
        return str(t.astype("datetime64[Y]"))
    if name in ("monthly", "quarterly"):
        return str(t.astype("datetime64[M]"))
    if name in ("hourly", "irregular") or t != t.astype("datetime64[D]"):
        return str(t.astype("datetime64[m]")).replace("T", " ")
    return str(t.astype("datetime64[D]"))


# ---------------------------------------------------------------------------------------------------------
# Reading a file




def _number(cell: str) -> float | None:
    """A cell as float: NaN when missing, None when not a number (thousands separators accepted)."""
    s = cell.strip()
    if s.lower() in MISSING:
        return math.nan
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _delimiter(path: Path, text: str) -> str:
    name = path.name.removesuffix(".gz").lower()
    if name.endswith((".tsv", ".tab")):
        return "\t"
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ("\t" if "\t" in first and "," not in first else ",")


def read_series(path: str | Path, time_col: str | None = "Date", *, sort: bool = False,
                display: str | None = None) -> SeriesTable:
    """Read a CSV/TSV (optionally .gz) time series. ``time_col=None``: no time column, rows are steps."""
    path = Path(path)
    file = display or str(path)
    text = read_text(path, file)
    rows = _csv_rows(text, _delimiter(path, text), file)
    header_line, header = next(rows, (1, []))
    header = [h.strip() for h in header]
    if not any(header):
        raise DataError("file is empty: expected a header line naming the columns", file=file, line=1)
    if time_col is not None and time_col not in header:
        raise DataError(f"no time column {time_col!r} in the header ({', '.join(header)}); pass --time-col "
                        "naming one of these", file=file, line=header_line)
    names = [h for h in header if h != time_col]
    cells: list[list[str]] = []
    lines: list[int] = []
    for line, row in rows:
        if not any(c.strip() for c in row):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} columns ({', '.join(header)}), found {len(row)}; fix the "
                            "row (quote fields that contain the delimiter)", file=file, line=line)
        cells.append(row)
        lines.append(line)
    if not cells:
        raise DataError("a header but no data rows", file=file, line=header_line)
    columns, bad = _numeric_columns(header, names, cells, lines)
    if time_col is None:
        times = np.arange(len(cells), dtype=np.int64)
    else:
        ti = header.index(time_col)
        times = _parse_times([r[ti] for r in cells], lines, file, time_col)
    table = SeriesTable(file, time_col, times, np.asarray(lines, dtype=np.int64), columns, bad, header_line)
    return _ordered(table, sort)


def _numeric_columns(header: list[str], names: list[str], cells: list[list[str]], lines: list[int]):
    columns, bad = {}, {}
    for name in names:
        j = header.index(name)
        col = np.empty(len(cells))
        for i, row in enumerate(cells):
            v = _number(row[j])
            if v is None:
                bad.setdefault(name, (lines[i], row[j]))
                v = math.nan
            col[i] = v
        columns[name] = col
    return columns, bad


def _take(table: SeriesTable, order: np.ndarray, note: str) -> SeriesTable:
    return replace(table, times=table.times[order], lines=table.lines[order],
                   columns={k: v[order] for k, v in table.columns.items()}, notes=(*table.notes, note))


def _ordered(table: SeriesTable, sort: bool) -> SeriesTable:
    """Increasing times: reverse a newest-first file, sort on request, refuse anything else or duplicates."""
    t, n = table.times, len(table)
    steps = np.diff(t)
    if n > 1 and (steps < steps.dtype.type(0)).all():
        table = _take(table, np.arange(n)[::-1], "the file lists the newest row first: read in reverse")
    elif n > 1 and (steps < steps.dtype.type(0)).any():
        i = int(np.argmax(steps < steps.dtype.type(0))) + 1
        if not sort:
            raise DataError(
                f"time goes backwards: {_show(table, i)} comes after {_show(table, i - 1)} (line "
                f"{table.lines[i - 1]}); sort the file by {table.time_col}, or pass --sort to sort the rows",
                file=table.file, line=int(table.lines[i]))
        table = _take(table, np.argsort(t, kind="stable"), "rows were not in time order: sorted (--sort)")
    same = np.flatnonzero(np.diff(table.times) == np.diff(table.times).dtype.type(0))
    if len(same):
        i = int(same[0]) + 1
        raise DataError(
            f"duplicate time {_show(table, i)} (also on line {table.lines[i - 1]}); keep one row per time: "
            "remove or merge the duplicates", file=table.file, line=int(table.lines[i]))
    return table


def _show(table: SeriesTable, i: int) -> str:
    return format_time(table.times[i], Frequency("irregular", 1)).removesuffix(" 00:00")


# ---------------------------------------------------------------------------------------------------------
# Choosing columns and handling missing values


def select(table: SeriesTable, target: str | None, features: tuple[str, ...] = (), fill: str = "error",
           season: int | None = None) -> Series:
    """The target (column 0) and extra features, with missing values handled as ``fill`` says."""
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    target = target or table.default_target
    numeric = [c for c in table.columns if c not in table.bad_cells]
    if target is None:
        raise DataError(f"no target column given; pass --target naming one of: {', '.join(numeric)}",
                        file=table.file, line=table.header_line)
    names = (target, *(f for f in features if f != target))
    for name in names:
        _check_column(table, name, "target" if name == target else "feature", numeric)
    values = np.stack([table.columns[c] for c in names], axis=1)  # (N, F)
    times, lines, notes = table.times, table.lines, list(table.notes)
    missing = np.isnan(values).any(axis=1)  # (N,)
    if missing.any():
        keep, values, note = _fill(table, names, values, missing, fill)
        times, lines = times[keep], lines[keep]
        notes.append(note)
    freq = infer_frequency(times)
    if season is not None or table.season is not None:
        freq = Frequency(freq.name, int(season if season is not None else table.season))
    return Series(table.file, table.time_col, names, times, lines, values, freq, tuple(notes))


def _check_column(table: SeriesTable, name: str, role: str, numeric: list[str]) -> None:
    flag = "--target" if role == "target" else "--features"
    if name == table.time_col:
        raise DataError(f"{name!r} is the time column; pass a numeric column as {flag}: {', '.join(numeric)}",
                        file=table.file, line=table.header_line)
    if name not in table.columns:
        cols = ", ".join(([table.time_col] if table.time_col else []) + list(table.columns))
        raise DataError(f"no column {name!r} in the header ({cols}); pass {flag} naming one of the numeric "
                        f"columns: {', '.join(numeric) or 'none'}", file=table.file, line=table.header_line)
    if name in table.bad_cells:
        line, text = table.bad_cells[name]
        raise DataError(f"{role} column {name!r} is not numeric: {text!r} is not a number; fix the cell, or "
                        f"choose a numeric column as {flag} ({', '.join(numeric) or 'none'})",
                        file=table.file, line=line)


def _fill(table: SeriesTable, names: tuple[str, ...], values: np.ndarray, missing: np.ndarray, fill: str):
    """(rows kept (N,) bool, values, note) after the fill policy; values without NaN."""
    rows = np.flatnonzero(missing)
    if fill == "error":
        i = int(rows[0])
        cols = [c for c, v in zip(names, values[i], strict=True) if math.isnan(v)]
        raise DataError(
            f"missing value in column {cols[0]!r} at {_show(table, i)} ({len(rows)} row(s) with missing values "
            "in the chosen columns); pass --fill ffill to carry the last value forward, or --fill drop to "
            "drop those rows", file=table.file, line=int(table.lines[i]))
    if fill == "drop":
        keep = ~missing
        return keep, values[keep], f"dropped {len(rows)} row(s) with missing values (--fill drop)"
    out = values.copy()
    for j in range(out.shape[1]):  # forward fill column by column
        col = out[:, j]
        idx = np.where(np.isnan(col), 0, np.arange(len(col)))
        np.maximum.accumulate(idx, out=idx)
        out[:, j] = col[idx]
    keep = ~np.isnan(out).any(axis=1)  # leading rows with nothing to carry forward
    lead = int((~keep).sum())
    note = f"forward-filled {len(rows) - lead} row(s) with missing values (--fill ffill)"
    if lead:
        note += f"; dropped {lead} leading row(s) with no earlier value"
    return keep, out[keep], note


# ---------------------------------------------------------------------------------------------------------
# Frequency, gaps and future timestamps


def infer_frequency(times: np.ndarray) -> Frequency:
    """The frequency whose step is the most common spacing of the times, with its usual seasonal period."""
    if times.dtype.kind != "M":
        return Frequency("steps", 1)
    if len(times) < 3:
        return Frequency("irregular", 1)
    spacing, count = np.unique(np.diff(times).astype("timedelta64[s]").astype(np.int64), return_counts=True)
    days = float(spacing[np.argmax(count)]) / 86400
    if 360 <= days <= 370:
        return Frequency("yearly", 1)
    if 88 <= days <= 93:
        return Frequency("quarterly", 4)
    if 27 <= days <= 32:
        return Frequency("monthly", 12)
    if days == 7:
        return Frequency("weekly", 52)
    if days == 1:
        weekday = (times.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 0 = Monday (1970-01-01 a Thursday)
        return Frequency("business-daily", 5) if (weekday < 5).all() else Frequency("daily", 7)
    if abs(days - 1 / 24) < 1e-9:
        return Frequency("hourly", 24)
    return Frequency("irregular", 1)


def _missing_between(a: np.ndarray, b: np.ndarray, freq: Frequency) -> np.ndarray:
    """(N-1,) number of steps of ``freq`` strictly between consecutive times a[i] < b[i]."""
    if freq.name == "yearly":
        return (b.astype("datetime64[Y]") - a.astype("datetime64[Y]")).astype(np.int64) - 1
    if freq.name in ("monthly", "quarterly"):
        months = (b.astype("datetime64[M]") - a.astype("datetime64[M]")).astype(np.int64)
        return months // (3 if freq.name == "quarterly" else 1) - 1
    if freq.name == "business-daily":
        return np.busday_count(a.astype("datetime64[D]") + _DAY, b.astype("datetime64[D]"))
    unit = {"weekly": 7 * 86400, "daily": 86400, "hourly": 3600}.get(freq.name)
    if unit is None:
        return np.zeros(len(a), dtype=np.int64)
    return (b - a).astype("timedelta64[s]").astype(np.int64) // unit - 1


def find_gaps(times: np.ndarray, freq: Frequency) -> list[tuple[int, int]]:
    """(row before the gap, steps missing) for every gap in the times at this frequency."""
    if times.dtype.kind != "M" or len(times) < 2:
        return []
    missing = _missing_between(times[:-1], times[1:], freq)
    return [(int(i), int(missing[i])) for i in np.flatnonzero(missing > 0)]


def future_times(last, freq: Frequency, steps: int) -> list:
    """The ``steps`` timestamps after ``last`` at this frequency (step numbers when irregular)."""
    if not isinstance(last, np.datetime64):  # a series without times: step numbers
        return [int(last) + k for k in range(1, steps + 1)]
    if freq.name == "irregular":  # no calendar step to continue: relative labels
        return [f"+{k}" for k in range(1, steps + 1)]
    if freq.name == "business-daily":
        day = last.astype("datetime64[D]")
        return [np.busday_offset(day, k, roll="forward").astype("datetime64[s]") for k in range(1, steps + 1)]
    if freq.name in ("yearly", "monthly", "quarterly"):
        unit, k = ("Y", 1) if freq.name == "yearly" else ("M", 3 if freq.name == "quarterly" else 1)
        base = last.astype(f"datetime64[{unit}]")
        return [(base + k * i).astype("datetime64[s]") for i in range(1, steps + 1)]
    step = {"weekly": 7 * 86400, "daily": 86400, "hourly": 3600}[freq.name]
    return [last + np.timedelta64(step * i, "s") for i in range(1, steps + 1)]


# ---------------------------------------------------------------------------------------------------------
# Registered series: the stock CSVs (Yahoo layout) and the ones statsmodels ships


@dataclass(frozen=True)
class Packaged:
    file: str  # path inside statsmodels/datasets/
    description: str  # one line for `seqlab data list`


PACKAGED = {
    "sunspots": Packaged("sunspots/sunspots.csv",
                         "Yearly sunspot numbers 1700-2008 (ships with statsmodels; ~11-year cycle)"),
    "co2": Packaged("co2/co2.csv",
                    "Mauna Loa CO2, monthly means of the weekly record 1958-2001 (ships with statsmodels)"),
    "elnino": Packaged("elnino/elnino.csv",
                       "Monthly Pacific sea-surface temperature (El Nino) 1950-2010 (ships with statsmodels)"),
}


def packaged_path(name: str) -> str:
    """Absolute path of a series file inside the installed statsmodels, found without importing it.
    Falls back to the bare relative name (so the registry reports it as not found) if statsmodels is absent."""
    spec = importlib.util.find_spec("statsmodels")
    rel = PACKAGED[name].file
    if spec is None or not spec.submodule_search_locations:
        return rel
    return str(Path(next(iter(spec.submodule_search_locations))) / "datasets" / rel)


def read_stock_csv(path: str | Path, split: str | None = None) -> SeriesTable:
    """Yahoo-layout daily OHLCV (``Date,Open,High,Low,Close,Adj Close,Volume``); holidays appear as rows of
    ``null``, which ``select`` reports (use ``fill="drop"`` to skip them)."""
    return replace(read_series(path, "Date"), default_target="Close")


def read_sunspots(path: str | Path, split: str | None = None) -> SeriesTable:
    """statsmodels' yearly sunspot numbers; season 11 (the solar cycle, in years)."""
    return replace(read_series(path, "YEAR"), default_target="SUNACTIVITY", season=11)


def read_co2(path: str | Path, split: str | None = None) -> SeriesTable:
    """statsmodels' weekly Mauna Loa CO2 (ppm) as monthly means of the weeks present (the usual form); 59
    weeks are missing and 5 months have no week at all: those months are NaN (``fill="ffill"`` or
    ``"drop"`` decides); season 12."""
    weekly = read_series(path, "date")
    month = weekly.times.astype("datetime64[M]")
    co2 = weekly.columns["co2"]
    months, first = np.unique(month, return_index=True)
    ok = ~np.isnan(co2)
    sums = np.bincount(np.searchsorted(months, month[ok]), weights=co2[ok], minlength=len(months))
    counts = np.bincount(np.searchsorted(months, month[ok]), minlength=len(months))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return SeriesTable(weekly.file, "date", months.astype("datetime64[s]"), weekly.lines[first], {"co2": mean},
                       {}, notes=("monthly means of the weekly record",), default_target="co2", season=12)


def read_elnino(path: str | Path, split: str | None = None) -> SeriesTable:
    """statsmodels' El Nino table (one row per year, one column per month) as one monthly series, °C."""
    wide = read_series(path, "YEAR")
    months = list(wide.columns)  # JAN..DEC
    values = np.stack([wide.columns[m] for m in months], axis=1).reshape(-1)  # (years*12,)
    start = wide.times[0].astype("datetime64[M]")
    times = (start + np.arange(len(values))).astype("datetime64[s]")
    lines = np.repeat(wide.lines, len(months))
    return SeriesTable(wide.file, "YEAR", times, lines, {"temperature": values}, {},
                       notes=("one monthly series from the year x month table",), default_target="temperature",
                       season=12)
