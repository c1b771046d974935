"""The generic CSV time-series reader and the registered series (seqlab.data.series)."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.data import load
from seqlab.data.series import (
    Frequency,
    find_gaps,
    format_time,
    future_times,
    infer_frequency,
    read_series,
    select,
)
from seqlab.errors import DataError


def write(tmp_path, text: str, name: str = "s.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_columns_times_and_file_lines(tmp_path):
    p = write(tmp_path, "Date,Close,Volume\n2024-01-02,10,100\n\n2024-01-03,11.5,200\n2024-01-04,12,300\n")
    t = read_series(p, "Date")
    assert list(t.columns) == ["Close", "Volume"]
    np.testing.assert_array_equal(t.columns["Close"], [10, 11.5, 12])
    np.testing.assert_array_equal(t.lines, [2, 4, 5])  # the blank line 3 is skipped, lines stay true
    assert t.times[0] == np.datetime64("2024-01-02")
    s = select(t, "Close", ("Volume",))
    assert s.names == ("Close", "Volume") and s.values.shape == (3, 2)


def test_newest_first_file_is_reversed_and_says_so(tmp_path):
    p = write(tmp_path, "Date,Close\n2024-01-04,3\n2024-01-03,2\n2024-01-02,1\n")
    t = read_series(p, "Date")
    np.testing.assert_array_equal(t.columns["Close"], [1, 2, 3])
    assert "newest row first" in t.notes[0]


def test_unsorted_times_fail_naming_the_line_unless_sort(tmp_path):
    p = write(tmp_path, "Date,Close\n2024-01-02,1\n2024-01-04,3\n2024-01-03,2\n2024-01-05,4\n")
    with pytest.raises(DataError) as e:
        read_series(p, "Date")
    assert e.value.line == 4 and "--sort" in str(e.value) and "2024-01-03" in str(e.value)
    t = read_series(p, "Date", sort=True)
    np.testing.assert_array_equal(t.columns["Close"], [1, 2, 3, 4])
    np.testing.assert_array_equal(t.lines, [2, 4, 3, 5])


def test_duplicate_times_fail_naming_both_lines(tmp_path):
    p = write(tmp_path, "Date,Close\n2024-01-02,1\n2024-01-03,2\n2024-01-03,2.5\n")
    with pytest.raises(DataError) as e:
        read_series(p, "Date", sort=True)  # sorting does not make duplicates acceptable
    assert e.value.line == 4 and "line 3" in str(e.value) and "duplicate" in str(e.value)


def test_missing_values_error_ffill_and_drop(tmp_path):
    p = write(tmp_path, "Date,Close,Volume\n2024-01-01,null,1\n2024-01-02,2,2\n2024-01-03,,3\n"
                        "2024-01-04,4,NA\n2024-01-05,5,5\n")
    t = read_series(p, "Date")
    with pytest.raises(DataError) as e:
        select(t, "Close", ("Volume",))
    assert e.value.line == 2 and "--fill ffill" in str(e.value) and "--fill drop" in str(e.value)
    with pytest.raises(DataError) as e:
        select(t, "Close")  # only the chosen columns count: line 5's missing Volume is not used
    assert e.value.line == 2
    dropped = select(t, "Close", ("Volume",), fill="drop")
    np.testing.assert_array_equal(dropped.values, [[2, 2], [5, 5]])
    np.testing.assert_array_equal(dropped.lines, [3, 6])
    filled = select(t, "Close", ("Volume",), fill="ffill")
    # row 1 has no earlier Close to carry: dropped; then each NaN takes the last value above it
    np.testing.assert_array_equal(filled.values, [[2, 2], [2, 3], [4, 3], [5, 5]])
    assert "forward-filled" in filled.notes[-1] and "leading" in filled.notes[-1]


def test_non_numeric_target_and_missing_column_name_the_place(tmp_path):
    p = write(tmp_path, "Date,Close,Name\n2024-01-01,1,a\n2024-01-02,x1,b\n")
    t = read_series(p, "Date")
    with pytest.raises(DataError) as e:
        select(t, "Close")
    assert e.value.line == 3 and "'x1'" in str(e.value) and "not numeric" in str(e.value)
    with pytest.raises(DataError) as e:
        select(t, "Closing")
    assert e.value.line == 1 and "Date, Close, Name" in str(e.value) and "--target" in str(e.value)
    with pytest.raises(DataError) as e:
        select(t, "Date")
    assert "time column" in str(e.value)
    with pytest.raises(DataError) as e:
        read_series(p, "When")
    assert e.value.line == 1 and "--time-col" in str(e.value)


def test_bad_time_names_the_row(tmp_path):
    p = write(tmp_path, "Date,Close\n2024-01-01,1\n2024-13-45,2\n")
    with pytest.raises(DataError) as e:
        read_series(p, "Date")
    assert e.value.line == 3 and "2024-13-45" in str(e.value)


@pytest.mark.parametrize("text,expected", [
    ("2020-01-31", "2020-01-31"), ("20200131", "2020-01-31"), ("2020", "2020-01-01"), ("2020-01", "2020-01-01"),
    ("2020Q1", "2020-01-01"), ("01/31/2020", "2020-01-31"), ("31.01.2020", "2020-01-31"),
    ("2020.01.31", "2020-01-31"), ("Jan-31-2020", "2020-01-31"), ("2020년 1월 31일", "2020-01-31"),
    ("2020-01-31T09:30:00+09:00", "2020-01-31T00:30:00"),
])
def test_time_formats(tmp_path, text, expected):
    t = read_series(write(tmp_path, f"t,v\n{text},1\n"), "t")
    assert t.times[0] == np.datetime64(expected)


def test_thousands_separators_semicolons_and_no_time_column(tmp_path):
    t = read_series(write(tmp_path, 'Date,Close\n2024-01-01,"1,234.5"\n2024-01-02,"12,000"\n'), "Date")
    np.testing.assert_array_equal(t.columns["Close"], [1234.5, 12000])
    t = read_series(write(tmp_path, "Date;Close\n2024-01-01;1\n2024-01-02;2\n", "semi.csv"), "Date")
    np.testing.assert_array_equal(t.columns["Close"], [1, 2])
    t = read_series(write(tmp_path, "v\n3\n4\n5\n", "plain.csv"), None)
    np.testing.assert_array_equal(t.times, [0, 1, 2])
    assert select(t, "v").freq == Frequency("steps", 1)


def test_frequency_gaps_and_future_times():
    days = np.array(["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-10", "2024-01-11"], dtype="datetime64[s]")
    f = infer_frequency(days)
    assert f == Frequency("business-daily", 5)
    assert find_gaps(days, f) == [(2, 1)]  # Tuesday 01-09 missing; the weekend is not a gap
    assert [format_time(t, f) for t in future_times(days[-1], f, 2)] == ["2024-01-12", "2024-01-15"]
    months = np.array(["2024-01", "2024-02", "2024-05", "2024-06"], dtype="datetime64[M]").astype("datetime64[s]")
    f = infer_frequency(months)
    assert f == Frequency("monthly", 12) and find_gaps(months, f) == [(1, 2)]
    assert [format_time(t, f) for t in future_times(months[-1], f, 2)] == ["2024-07", "2024-08"]
    every_day = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-20")).astype("datetime64[s]")
    assert infer_frequency(every_day) == Frequency("daily", 7)
    years = np.array(["2000", "2001", "2002"], dtype="datetime64[Y]").astype("datetime64[s]")
    assert infer_frequency(years) == Frequency("yearly", 1)


def test_packaged_series_match_statsmodels_own_loaders():
    """Offline, no download: the registered series equal what statsmodels' loaders (pandas) give."""
    import statsmodels.api as sm

    sun = select(load("sunspots", "series"), None)
    ref = sm.datasets.sunspots.load_pandas().data
    np.testing.assert_array_equal(sun.target, ref["SUNACTIVITY"].to_numpy())
    assert sun.freq == Frequency("yearly", 11) and format_time(sun.times[0], sun.freq) == "1700"

    co2 = load("co2", "series")
    weekly = sm.datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()  # the oracle: pandas' monthly resampling
    np.testing.assert_allclose(co2.columns["co2"], monthly.to_numpy(), equal_nan=True)
    assert np.isnan(co2.columns["co2"]).sum() == 5
    s = select(co2, None, fill="ffill")
    assert s.freq == Frequency("monthly", 12) and not np.isnan(s.values).any()

    nino = select(load("elnino", "series"), None)
    ref = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().ravel()
    np.testing.assert_array_equal(nino.target, ref)
    assert format_time(nino.times[13], nino.freq) == "1951-02"


def test_stock_prices_registry_entry(data_dir):
    t = load("stock_prices", "samsung", data_dir=data_dir)
    s = select(t, None)
    assert s.names == ("Close",) and len(s) == 5761 and s.target[0] == 3260.0
    assert s.freq == Frequency("business-daily", 5)
    hynix = load("stock_prices", "sk_hynix", data_dir=data_dir)
    with pytest.raises(DataError) as e:
        select(hynix, None)
    assert e.value.line == 256 and "2000-12-25" in str(e.value)
    assert len(select(hynix, None, fill="drop")) == len(hynix) - 34
