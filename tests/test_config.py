"""params.yaml schema: bad values stop before any work with the key path; run ids expand and parse."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from diff3dhpe.cli import main
from diff3dhpe.config import check_data_files, load_params, parse_params
from diff3dhpe.errors import ConfigError
from diff3dhpe.results import run_result_path
from diff3dhpe.variants import RunSpec, parse_run_id

REPO = Path(__file__).resolve().parents[1]


def tiny_params(data_dir: str | Path = "data") -> dict:
    """A complete, very small study (used by the train / pipeline tests too)."""
    return {
        "data": {
            "source": "synthetic",
            "dir": str(data_dir),
            "synthetic": {
                "name": "tiny",
                "seed": 0,
                "frames_per_take": 24,
                "subjects": ["S1", "S5", "S9"],
                "actions": ["Walking", "Sitting"],
                "mpi3dhp_frames_per_sequence": 24,
                "mpi3dhp_test_frames": 24,
            },
            "subjects": {"train": ["S1"], "validation": ["S5"], "test": ["S9"]},
            "mpi3dhp_validation": ["S8"],
            "test_cameras": ["0"],
        },
        "model": {
            "mixste": {"dim": 16, "depth": 1, "heads": 2, "drop_path": 0.1},
            "poseformer": {"dim": 4, "depth": 1, "heads": 2},
        },
        "diffusion": {
            "timesteps": 100,
            "steps": {"h36m": {"det": {9: 3}, "gt": {9: 2}}, "3dhp": {"gt": {9: 2}}},
            "ddim_steps": {9: 4},
        },
        "evaluate": {"batch_size": 64},
        "train": {
            "epochs": 2,
            "batch_size": 16,
            "lr": 0.002,
            "max_clips_per_epoch": 48,
            "validation_max_clips": 16,
            "cpu_threads": 1,
            "device": "cpu",
        },
        "experiments": {
            "h36m_det": {
                "dataset": "h36m",
                "input_2d": ["det"],
                "frames": [9],
                "variants": ["mixste", "diff3dhpe-m"],
                "seeds": [0, 1],
            },
        },
        "sweeps": {
            "robustness": {
                "dataset": "h36m",
                "input_2d": "det",
                "frames": 9,
                "variants": ["mixste", "diff3dhpe-m"],
                "seeds": [0],
                "gaussian": [0.0, 0.05],
                "dropout": [0.0, 0.5],
            },
            "steps": {
                "dataset": "h36m",
                "input_2d": "det",
                "frames": 9,
                "variants": ["diff3dhpe-m"],
                "seeds": [0],
                "steps": [1, 2],
            },
        },
        "stats": {
            "ttest": [
                {
                    "name": "mixste-vs-diff3dhpe-m",
                    "a": "mixste",
                    "b": "diff3dhpe-m",
                    "frames": [9],
                    "metrics": ["mpjpe"],
                }
            ]
        },
    }


def error_of(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_params(raw)
    return str(info.value)


def test_repo_profiles_are_valid():
    default = load_params(REPO / "params.yaml")
    paper = load_params(REPO / "configs" / "paper.yaml")
    assert default.data.source == "synthetic"
    assert (
        paper.model.mixste.dim == 512 and paper.model.mixste.depth == 8 and paper.diffusion.timesteps == 1000
    )
    # the paper's S per setting (EXPERIMENTS.md §2)
    assert paper.diffusion.steps["h36m"]["det"] == {81: 9, 243: 5}
    assert paper.diffusion.steps["h36m"]["gt"] == {81: 5, 243: 6}
    assert paper.diffusion.steps["3dhp"]["gt"] == {27: 7}
    # both profiles keep the same experiment groups (dvc.yaml has one stage pair per group)
    assert list(default.experiments) == list(paper.experiments)


def test_typo_key_names_path_and_suggests():
    raw = tiny_params()
    raw["train"]["epohcs"] = 3
    message = error_of(raw)
    assert "train.epohcs: unknown key 'epohcs'; did you mean 'epochs'?" in message
    assert "allowed keys here:" in message and "lr_decay" in message


def test_negative_sigma_and_dropout_out_of_range():
    raw = tiny_params()
    raw["sweeps"]["robustness"]["gaussian"] = [0.0, -0.01]
    raw["sweeps"]["robustness"]["dropout"] = [0.0, 0.1, 1.5]
    message = error_of(raw)
    assert "sweeps.robustness.gaussian[1]: -0.01 is out of range [0, inf)" in message
    assert "sweeps.robustness.dropout[2]: 1.5 is out of range [0, 1]" in message


def test_zero_steps_rejected_everywhere():
    raw = tiny_params()
    raw["diffusion"]["steps"]["h36m"]["det"][9] = 0
    assert "diffusion.steps.h36m.det[9]: 0 is out of range [1, inf)" in error_of(raw)
    raw = tiny_params()
    raw["sweeps"]["steps"]["steps"] = [1, 0]
    assert "sweeps.steps.steps[1]: 0 is out of range [1, inf)" in error_of(raw)


def test_unknown_variant_lists_allowed_values():
    raw = tiny_params()
    raw["experiments"]["h36m_det"]["variants"] = ["mixste", "diff3dhpe"]
    message = error_of(raw)
    assert "experiments.h36m_det.variants[1]" in message
    assert "'diff3dhpe-m'" in message and "'ddim-m'" in message and "got 'diff3dhpe'" in message


def test_cross_checks_name_the_missing_pieces():
    raw = tiny_params()
    raw["experiments"]["h36m_det"]["frames"] = [9, 27]  # no S for F=27 on det input
    assert "diffusion.steps.h36m.det: no S for 27 frames (needed by h36m-det-f27-diff3dhpe-m-s0)" in error_of(
        raw
    )
    raw = tiny_params()
    raw["sweeps"]["robustness"]["seeds"] = [0, 7]
    assert "h36m-det-f9-mixste-s7" in error_of(raw) and "not trained by any experiments group" in error_of(
        raw
    )
    raw = tiny_params()
    raw["experiments"]["h36m_det"]["seeds"] = [0]
    raw["sweeps"]["robustness"]["seeds"] = [0]
    assert "a t-test needs at least 2" in error_of(raw)
    raw = tiny_params()
    raw["data"]["subjects"]["validation"] = ["S9"]
    assert "subjects ['S9'] are in both validation and test" in error_of(raw)


def test_missing_data_file_names_key_and_path(tmp_path):
    raw = tiny_params(tmp_path)
    raw["data"]["source"] = "files"
    raw["data"]["h36m"] = {"file_3d": "data_3d_h36m.npz"}
    params = parse_params(raw)
    with pytest.raises(ConfigError) as info:
        check_data_files(params, ["h36m"])
    assert f"data.h36m.file_3d: {tmp_path / 'data_3d_h36m.npz'} does not exist" in str(info.value)


def test_bad_params_leave_earlier_results_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    earlier = results / "metrics.csv"
    earlier.write_text("run,mpjpe\nold,1.0\n")
    raw = tiny_params()
    raw["sweeps"]["robustness"]["dropout"] = [1.5]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    for argv in (["collect", "--kind", "metrics"], ["ttest"], ["train", "--run", "h36m-det-f9-mixste-s0"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "sweeps.robustness.dropout[0]: 1.5 is out of range [0, 1]" in err
    assert earlier.read_text() == "run,mpjpe\nold,1.0\n"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_yaml_errors_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_run_matrix_expansion_order_and_ids():
    raw = tiny_params()
    raw["experiments"]["extra"] = {
        "dataset": "h36m",
        "input_2d": ["gt", "det"],
        "frames": [9],
        "variants": ["ddim-m"],
        "seeds": [3],
    }
    params = parse_params(raw)
    assert [r.id for r in params.train_runs()] == [
        "h36m-det-f9-mixste-s0",
        "h36m-det-f9-mixste-s1",
        "h36m-det-f9-diff3dhpe-m-s0",
        "h36m-det-f9-diff3dhpe-m-s1",
        "h36m-gt-f9-ddim-m-s3",
        "h36m-det-f9-ddim-m-s3",
    ]
    assert [r.id for r in params.runs("robustness")] == [
        "h36m-det-f9-mixste-s0",
        "h36m-det-f9-diff3dhpe-m-s0",
    ]
    assert params.sampling_steps(parse_run_id("h36m-det-f9-diff3dhpe-m-s0")) == 3
    assert params.sampling_steps(parse_run_id("h36m-gt-f9-ddim-m-s3")) == 4
    assert params.sampling_steps(parse_run_id("h36m-det-f9-mixste-s0")) is None


def test_steps_outside_the_matrix_come_from_params_else_from_the_papers_setting():
    params = parse_params(tiny_params())  # diffusion.steps: h36m det {9: 3}, gt {9: 2}; 3dhp gt {9: 2}
    assert params.steps_or_paper(parse_run_id("h36m-det-f9-diff3dhpe-m-s0")) == (
        3, "params diffusion.steps.h36m.det.9")
    # not in params: the paper's S (H36M det 243: 5, gt 81: 5; 3DHP 27: 7; DDIM-M 243: 80)
    for run_id, paper_s in (("h36m-det-f243-diff3dhpe-m-s0", 5), ("h36m-gt-f81-diff3dhpe-p-s0", 5),
                            ("3dhp-gt-f27-diff3dhpe-m-s0", 7), ("h36m-det-f243-ddim-m-s0", 80)):
        steps, source = params.steps_or_paper(parse_run_id(run_id))
        assert steps == paper_s and source.startswith("the paper's S")
    assert params.steps_or_paper(parse_run_id("h36m-det-f243-mixste-s0")) == (None, "")
    with pytest.raises(ConfigError, match=r"3dhp/gt.*F=243 is a setting of h36m/det, h36m/gt.*--steps"):
        params.steps_or_paper(parse_run_id("3dhp-gt-f243-diff3dhpe-m-s0"))


def test_duplicate_run_across_groups_is_an_error():
    raw = tiny_params()
    raw["experiments"]["again"] = copy.deepcopy(raw["experiments"]["h36m_det"])
    assert "run h36m-det-f9-mixste-s0 appears in more than one group" in error_of(raw)


def test_run_id_round_trip_and_errors():
    spec = RunSpec("3dhp", "gt", 27, "diff3dhpe-m-nopde", 12)
    assert spec.id == "3dhp-gt-f27-diff3dhpe-m-nopde-s12"
    assert parse_run_id(spec.id) == spec
    with pytest.raises(ConfigError, match="variant 'diffusion' is not one of"):
        parse_run_id("h36m-det-f27-diffusion-s0")
    with pytest.raises(ConfigError, match="not of the form"):
        parse_run_id("h36m_det_27")
    assert run_result_path("results", "steps", spec.id) == Path("results/per_run/steps") / f"{spec.id}.csv"


def test_runs_command_prints_ids(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params()))
    assert main(["runs", "--params", str(path), "--kind", "steps"]) == 0
    assert capsys.readouterr().out.split() == ["h36m-det-f9-diff3dhpe-m-s0"]


def test_removed_keys_are_unknown_keys_and_the_paper_profile_still_validates():
    with pytest.raises(ConfigError, match=r"train.num_workers: unknown key 'num_workers'"):
        parse_params({"train": {"num_workers": 4}})
    load_params(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml")
