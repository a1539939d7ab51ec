"""Time series readers: .ts (sktime/aeon), wide and long CSV; good and bad files."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data import timeseries
from rnnkit.errors import DataError

TS = """# a comment
% an ARFF-style comment
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:10,20,30:up
4,5:40,50:down

0.5:1e2:up
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ts_variable_length_multichannel(tmp_path):
    ds = timeseries.read_ts(write(tmp_path, "toy.ts", TS))
    assert ds.classes == ["up", "down"]  # declared order, not sorted
    assert ds.labels.tolist() == [0, 1, 0]
    assert ds.lengths.tolist() == [3, 2, 1] and ds.num_features == 2
    assert ds.inputs[0].tolist() == [[1, 10], [2, 20], [3, 30]]  # (T, C): time-major
    assert ds.inputs[2].tolist() == [[0.5, 100.0]]
    assert ds.ids[1] == "toy.ts:11"


def test_ts_missing_values(tmp_path):
    path = write(tmp_path, "m.ts", TS.replace("4,5:40,50", "4,?:40,50"))
    with pytest.raises(DataError, match=r"line 11, channel 1, value 2: missing value '\?'"):
        timeseries.read_ts(path)
    ds = timeseries.read_ts(path, missing="nan")
    assert torch.isnan(ds.inputs[1][1, 0]) and ds.inputs[1][1, 1] == 50


@pytest.mark.parametrize("edit, message", [
    (("@data\n", ""), "line 9: expected an @header line or @data before the data"),
    (("@classLabel true up down\n", ""), "no '@classLabel true"),
    (("@timeStamps false", "@timestamps true"), "time-stamped"),
    (("1,2,3:10,20,30:up", "1,2,3:up"), "line 10: 1 channels, expected 2"),
    (("1,2,3:10,20,30:up", "1,2,3:10,20:up"), r"different lengths \[2, 3\]"),
    (("1,2,3:10,20,30:up", "1,x,3:10,20,30:up"), "channel 1, value 2: 'x' is not a number"),
    (("4,5:40,50:down", "4,5:40,50:left"), "label 'left' is not declared"),
    (("4,5:40,50:down", "4 5 40 50 down"), "no ':' separating"),
    (("@problemName Toy", "problemName Toy"), r"expected an @header line"),
])
def test_bad_ts(tmp_path, edit, message):
    path = write(tmp_path, "bad.ts", TS.replace(*edit))
    with pytest.raises(DataError, match=message) as info:
        timeseries.read_ts(path)
    assert "bad.ts" in str(info.value)


def test_ts_empty_truncated_binary(tmp_path):
    with pytest.raises(DataError, match=r"e\.ts: empty file, expected a \.ts time-series file"):
        timeseries.read_ts(write(tmp_path, "e.ts", "\n"))
    with pytest.raises(DataError, match="no @data line"):
        timeseries.read_ts(write(tmp_path, "h.ts", TS.split("@data")[0]))
    with pytest.raises(DataError, match="no cases after @data"):
        timeseries.read_ts(write(tmp_path, "t.ts", TS.split("1,2,3")[0]))
    binary = tmp_path / "b.ts"
    binary.write_bytes(b"\xff\xfe@data")
    with pytest.raises(DataError, match="not valid UTF-8"):
        timeseries.read_ts(binary)
    with pytest.raises(DataError, match="no such file"):
        timeseries.read_ts(tmp_path / "none.ts")
    with pytest.raises(ValueError, match="missing must be"):
        timeseries.read_ts(tmp_path / "none.ts", missing="drop")


def test_csv_wide(tmp_path):
    path = write(tmp_path, "w.csv", "b,1,2,3\na,4,5,\n\nb,6,,\n")
    ds = timeseries.read_csv_wide(path)
    assert ds.classes == ["a", "b"] and ds.labels.tolist() == [1, 0, 1]
    assert ds.lengths.tolist() == [3, 2, 1] and ds.inputs[0].shape == (3, 1)
    last = timeseries.read_csv_wide(write(tmp_path, "l.csv", "t,v1,v2,y\n1,2,,x\n"),
                                    label_column=-1, has_header=True)
    assert last.inputs[0].flatten().tolist() == [1, 2] and last.classes == ["x"]
    with pytest.raises(DataError, match=r"w2\.csv: line 2, value 2: 'oops' is not a number"):
        timeseries.read_csv_wide(write(tmp_path, "w2.csv", "a,1,2\nb,3,oops\n"))
    with pytest.raises(DataError, match="line 1: 1 cells"):
        timeseries.read_csv_wide(write(tmp_path, "w3.csv", "a\n"))
    with pytest.raises(DataError, match="empty label"):
        timeseries.read_csv_wide(write(tmp_path, "w4.csv", ",1,2\n"))
    with pytest.raises(DataError, match=r"labels \['c'\] are not among"):
        timeseries.read_csv_wide(write(tmp_path, "w5.csv", "c,1\n"), classes=["a", "b"])


LONG = """id,label,t,x,y
s1,walk,1,0.1,1
s2,run,0,5,5
s1,walk,0,0.0,0
s1,walk,2,0.2,2
"""


def test_csv_long(tmp_path):
    ds = timeseries.read_csv_long(write(tmp_path, "long.csv", LONG), time_column="t")
    assert ds.ids == ["s1", "s2"] and ds.classes == ["run", "walk"]
    assert ds.labels.tolist() == [1, 0]
    assert torch.allclose(ds.inputs[0], torch.tensor([[0, 0], [0.1, 1], [0.2, 2]]))  # by t
    only_x = timeseries.read_csv_long(write(tmp_path, "l2.csv", LONG),
                                      feature_columns=["x"])
    assert only_x.num_features == 1  # file order without a time column
    assert torch.allclose(only_x.inputs[0].flatten(), torch.tensor([0.1, 0.0, 0.2]))


@pytest.mark.parametrize("text, kwargs, message", [
    (LONG, {"id_column": "series"}, r"no column\(s\) \['series'\]"),
    (LONG.replace("s1,walk,2", "s1,run,2"), {}, "series 's1' has label 'run' here but 'walk'"),
    (LONG.replace("s2,run,0,5,5", "s2,run,0,5"), {}, "line 3: 4 cells, header has 5"),
    ("id,label\n", {}, "no feature columns"),
    ("id,label,x\n", {}, "header but no data rows"),
    (LONG.replace("0.2,2", "0.2,inf"), {}, "column 'y': infinite value"),
])
def test_bad_csv_long(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message):
        timeseries.read_csv_long(write(tmp_path, "bad.csv", text), **kwargs)


def test_aeon_locator_errors(monkeypatch):
    with pytest.raises(ValueError, match="split must be"):
        timeseries.load_aeon_dataset("JapaneseVowels", "valid")
    monkeypatch.setattr(timeseries.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install aeon"):
        timeseries.load_aeon_dataset("JapaneseVowels", "train")
