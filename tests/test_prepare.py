"""The prepare stage: data made or found per data.source, checked to load, provenance written last."""

import json
import shutil

import pytest
import yaml
from test_config import tiny_params

from diff3dhpe.cli import main
from diff3dhpe.config import parse_params
from diff3dhpe.data.files import synthetic_files
from diff3dhpe.errors import ConfigError
from diff3dhpe.prepare import prepare_data


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Tiny synthetic data prepared through the library call."""
    root = tmp_path_factory.mktemp("prepare")
    raw = tiny_params(root / "data")
    return root, raw, prepare_data(parse_params(raw), root / "results")


def test_synthetic_source_writes_the_generator_files_and_provenance(prepared):
    root, raw, summary = prepared
    names = synthetic_files("tiny")
    written = sorted(p.name for p in (root / "data").glob("*.npz"))
    assert written == sorted([*names["h36m"].values(), *names["3dhp"].values()])
    assert summary.datasets == ("h36m",)  # the tiny matrix trains on Human3.6M only
    assert summary.provenance == {"h36m": "synthetic data (Human3.6M format, generator seed 0)"}
    assert json.loads(summary.provenance_path.read_text()) == summary.provenance
    assert summary.provenance_path == root / "results" / "provenance.json"
    # Only the 2D input the runs use is loaded; tiny: 1 subject x 2 actions x 2 takes x 4 cameras, 24 frames.
    assert set(summary.loaded) == {"h36m/det"}  # the tiny matrix has det runs only
    assert summary.loaded["h36m/det"]["train"] == (16, 16 * 24)
    assert summary.loaded["h36m/det"]["test"] == (4, 4 * 24)  # test_cameras: ['0']
    assert str(summary) == f"data ready in {root / 'data'}/ for h36m (source: synthetic)"


def test_files_source_reads_user_files_and_labels_them(prepared, tmp_path):
    root, raw, _ = prepared
    shutil.copytree(root / "data", tmp_path / "mine")
    names = synthetic_files("tiny")["h36m"]
    raw = {**raw, "data": {**raw["data"], "source": "files", "dir": str(tmp_path / "mine"), "h36m": names}}
    summary = prepare_data(parse_params(raw), tmp_path / "results")
    assert summary.provenance == {"h36m": "Human3.6M (user-supplied files)"}
    assert set(summary.loaded) == {"h36m/det"}


def test_files_source_with_a_missing_folder_names_data_dir_and_creates_nothing(tmp_path):
    raw = tiny_params(tmp_path / "absent")
    raw["data"]["source"] = "files"
    with pytest.raises(ConfigError, match="data.dir") as info:
        prepare_data(parse_params(raw), tmp_path / "results")
    assert str(tmp_path / "absent") in str(info.value)
    assert not (tmp_path / "absent").exists() and not (tmp_path / "results").exists()


def test_raw_source_is_checked_before_anything_is_written(tmp_path):
    raw = tiny_params(tmp_path / "data")
    raw["data"]["source"] = "raw"
    with pytest.raises(ConfigError, match="data.raw.h36m: set it"):
        prepare_data(parse_params(raw), tmp_path / "results")
    raw["data"]["raw"] = {"h36m": str(tmp_path / "download")}
    raw["data"]["h36m"] = {"file_3d": "poses.npz"}
    with pytest.raises(ConfigError, match=r"data.h36m.file_3d: .*'data_3d_<name>.npz'"):
        prepare_data(parse_params(raw), tmp_path / "results")
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_cli_prepare_prints_where_the_data_is(prepared, tmp_path, capsys):
    root, raw, _ = prepared
    raw = {**raw, "data": {**raw["data"], "source": "files", "dir": str(root / "data"),
                           "h36m": synthetic_files("tiny")["h36m"]}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["prepare", "--params", str(path), "--results", str(tmp_path / "results")]) == 0
    assert f"data ready in {root / 'data'}/ for h36m (source: files)" in capsys.readouterr().out


def test_a_folder_with_gt_2d_only_serves_a_matrix_of_gt_runs(prepared, tmp_path):
    root, raw, _ = prepared
    names = synthetic_files("tiny")["h36m"]
    (tmp_path / "mine").mkdir()
    for role in ("file_3d", "file_2d_gt"):  # no detected-2D file at all
        shutil.copy(root / "data" / names[role], tmp_path / "mine")
    group = {"dataset": "h36m", "input_2d": ["gt"], "frames": [9], "variants": ["mixste", "diff3dhpe-m"],
             "seeds": [0, 1]}
    raw = {**raw, "data": {**raw["data"], "source": "files", "dir": str(tmp_path / "mine"), "h36m": names},
           "experiments": {"h36m_gt": group}, "stats": {"ttest": []},
           "sweeps": {"robustness": {"input_2d": "gt", "frames": 9, "seeds": [0]},
                      "steps": {"input_2d": "gt", "frames": 9, "variants": ["diff3dhpe-m"], "seeds": [0]}}}
    summary = prepare_data(parse_params(raw), tmp_path / "results")
    assert set(summary.loaded) == {"h36m/gt"}
    # ...while a det run on the same folder names the missing file and its params key
    raw["experiments"]["h36m_gt"]["input_2d"] = ["det"]
    raw["sweeps"]["robustness"]["input_2d"] = raw["sweeps"]["steps"]["input_2d"] = "det"
    with pytest.raises(ConfigError, match=r"data.h36m.file_2d_det: .*data_2d_tiny_det.npz does not exist"):
        prepare_data(parse_params(raw), tmp_path / "results2")
