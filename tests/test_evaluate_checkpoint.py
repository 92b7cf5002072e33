"""`diff3dhpe evaluate --checkpoint FILE`: official release files and our own model.pt on the test set.

Release files are written here exactly as the releases' save calls write them (METHOD.md §8a): a dict
with 'epoch', numpy-scalar 'lr' / losses, the batch generator's live numpy RandomState, a full AdamW
state_dict and the weights of a DataParallel-wrapped model ('module.' prefixes; Diff3DHPE's diffusion
wrapper adds 'model.' and its noise-schedule buffers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from diff3dhpe.assemble import TrainedRun, load_dataset, predict_sequences, release_scale
from diff3dhpe.checkpoints import load_official, save_checkpoint
from diff3dhpe.cli import main
from diff3dhpe.data.augment import flip_keypoints
from diff3dhpe.data.normalisation import release_scale_3dhp, release_scale_h36m
from diff3dhpe.diffusion import Diffusion, cosine_alphas_cumprod
from diff3dhpe.evaluate import evaluate_lifter, score
from diff3dhpe.models import build_model
from diff3dhpe.results import RESULT_COLUMNS
from diff3dhpe.variants import RunSpec

PAPER = pd.read_csv(Path(__file__).resolve().parents[1] / "diff3dhpe" / "resources" / "paper_results.csv")


def paper(table: str, metric: str, method: str, frames: int, action: str) -> str:
    """The published number, as the tables print it (one decimal), read from the paper's CSV itself."""
    row = PAPER[(PAPER["table"] == table) & (PAPER["metric"] == metric) & (PAPER["method"] == method)
                & (PAPER["frames"] == frames) & (PAPER["action"] == action)]
    return f"{float(row['value'].iloc[0]):.1f}"


def tiny_steps(study, frames: int = 9) -> int:
    return study["params"].diffusion.steps["h36m"]["det"][frames]

J = 17


# ------------------------------------------------------------------ files as the releases write them


class _DataParallel(nn.Module):
    """The 'module.' prefix nn.DataParallel gives a state dict, without needing a GPU."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


class _ReleaseDiffusion(nn.Module):
    """The release's diffusion wrapper: the backbone as ``model`` and its cosine-schedule buffers."""

    def __init__(self, backbone: nn.Module, timesteps: int = 1000):
        super().__init__()
        self.model = backbone
        betas, alphas_cumprod = cosine_alphas_cumprod(timesteps)
        self.register_buffer("betas", torch.from_numpy(betas))
        self.register_buffer("alphas_cumprod", torch.from_numpy(alphas_cumprod))


def write_release_file(path, layout: str, frames: int = 9, **size) -> nn.Module:
    """Save a randomly initialised model the way the release's training script saves; return it."""
    backbone, objective, entry = {
        "Diff3DHPE": ("mixste", "denoiser", "model_diffusion"),
        "Diff3DHPE-P": ("poseformer", "denoiser", "model_diffusion"),
        "MixSTE": ("mixste", "regression", "model_pos"),
        "PoseFormer": ("poseformer", "regression", "model_pos"),
    }[layout]
    size = size or ({"dim": 16, "depth": 1} if backbone == "mixste" else {"dim": 8, "depth": 1})
    torch.manual_seed(frames)
    model = build_model(backbone, frames=frames, objective=objective, heads=8, pde=objective == "denoiser",
                        **size)
    with torch.no_grad():  # non-zero positional embeddings, so that loading them matters
        model.Spatial_pos_embed.normal_(std=0.5)
        model.Temporal_pos_embed.normal_(std=0.5)
    wrapped = _DataParallel(_ReleaseDiffusion(model) if entry == "model_diffusion" else model)
    lr = np.float64(4e-5) * np.float64(0.993) ** 3
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=lr, weight_decay=0.1)
    random_state = np.random.RandomState(1234)
    random_state.permutation(10)
    torch.save({"epoch": 3, "best_epoch": np.int64(2), "min_loss": np.float64(41.25),
                "min_train_loss": np.float32(0.03), "lr": lr, "random_state": random_state,
                "optimizer": optimizer.state_dict(), entry: wrapped.state_dict()}, path)
    return model.eval()


def run_cli(study, *args) -> int:
    return main(["evaluate", "--params", str(study["path"]), *args])


def read_out(out) -> tuple[pd.DataFrame, dict, str, str]:
    return (pd.read_csv(out / "metrics.csv"), json.loads((out / "summary.json").read_text()),
            (out / "table.md").read_text(), (out / "table.tex").read_text())


@pytest.fixture(scope="module")
def official(study):
    """An official-format Diff3DHPE-M file (MixSTE backbone, F = 9) and its CLI evaluation."""
    path = study["root"] / "diff3dhpe_h36m_f9.bin"
    write_release_file(path, "Diff3DHPE")
    out = study["root"] / "eval_official"
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "h36m", "--out", str(out)) == 0
    return path, out


# ------------------------------------------------------------------ (a) the release constant decodes to 0 mm


class _NormalisedGroundTruth(nn.Module):
    """An 'oracle' regression model: for every input 2D frame it returns that frame's ground-truth 3D
    divided by ``scale`` (mirrored frames: the mirrored pose), looked up by the frame's exact bytes."""

    def __init__(self, sequences, layout, scale_mm: float):
        super().__init__()
        self.table = {}
        for seq in sequences:
            x2d = seq.keypoints_2d.astype(np.float32)
            y3d = seq.poses_3d.astype(np.float64) / scale_mm
            for x, y, xf, yf in zip(x2d, y3d, flip_keypoints(x2d, layout), flip_keypoints(y3d, layout)):
                self.table[x.tobytes()] = y
                self.table[np.ascontiguousarray(xf).tobytes()] = yf

    def forward(self, x2d: torch.Tensor) -> torch.Tensor:  # (B, F, J, 2) -> (B, F, J, 3)
        frames = x2d.detach().cpu().numpy().reshape(-1, J, 2)
        poses = np.stack([self.table[np.ascontiguousarray(f).tobytes()] for f in frames])
        return torch.from_numpy(poses.reshape(*x2d.shape[:-1], 3)).float()


def test_an_output_of_ground_truth_over_the_release_constant_scores_zero_mm(study):
    params = study["params"]
    data = load_dataset(params, "h36m", "det")
    release = release_scale(params, "h36m")
    assert release.mm == pytest.approx(release_scale_h36m(release.files[0]) * 1000, rel=1e-12)
    oracle = _NormalisedGroundTruth(data.test, data.layout, release.mm)

    def evaluate(scale_mm: float) -> pd.DataFrame:
        run = RunSpec("h36m", "det", 9, "mixste", 0)
        trained = TrainedRun(run, oracle, scale_mm, torch.device("cpu"), normalisation=f"{scale_mm} mm")
        return evaluate_lifter(params, trained, data.test, data.layout, None, name="oracle").metrics

    exact = evaluate(release.mm)
    assert exact["mpjpe"].max() < 5e-4 and exact["p_mpjpe"].max() < 5e-4  # 0.000 mm
    # (c) a scale k·s decodes to k·GT: the MPJPE of every row is |k - 1| times the mean joint distance
    # from the pelvis, while the scale-free P-MPJPE and N-MPJPE stay 0
    double = evaluate(2 * release.mm).set_index("action")
    ours_mm = data.scale()
    ours = evaluate(ours_mm).set_index("action")
    ratio = ours_mm / release.mm
    assert abs(ratio - 1) > 1e-3  # the two constants really differ on these files
    np.testing.assert_allclose(ours["mpjpe"], abs(ratio - 1) * double["mpjpe"], rtol=1e-4)
    for table in (double, ours):
        assert table["p_mpjpe"].max() < 5e-3 and table["n_mpjpe"].max() < 5e-3
    walking = [seq for seq in data.test if seq.action.startswith("Walking")]
    norms = np.concatenate([np.linalg.norm(seq.poses_3d, axis=-1).mean(axis=1) for seq in walking])
    assert double.loc["Walking", "mpjpe"] == pytest.approx(norms.mean(), rel=1e-5)  # by hand


# ------------------------------------------------------------------ (b) the CLI equals the library path


def test_official_diff3dhpe_file_through_the_cli_equals_the_library_path(study, official):
    path, out = official
    params = study["params"]
    written, summary, _, _ = read_out(out)
    assert tuple(written.columns) == RESULT_COLUMNS["metrics"]
    assert set(written["run"]) == {f"checkpoint:{path.name}"} and written["seed"].isna().all()
    assert set(written["variant"]) == {"diff3dhpe-m"} and set(written["frames"]) == {9}
    assert set(written["steps"]) == {tiny_steps(study)}  # params diffusion.steps.h36m.det.9
    assert summary["normalisation"].startswith("release") and summary["compat"] == "release"

    # the library path, assembled here from its primitives: sample + flip + metrics
    data = load_dataset(params, "h36m", "det")
    scale = release_scale_h36m(params.data.file("h36m", "file_3d")) * 1000
    run = RunSpec("h36m", "det", 9, "diff3dhpe-m", 0)
    trained = TrainedRun(run, load_official(path), scale, torch.device("cpu"),
                         diffusion=Diffusion(1000, compat="release"))
    predictions, _ = predict_sequences(params, trained, data.test, data.layout, tiny_steps(study))
    expected = score("h36m", data.test, predictions)
    assert list(written["action"]) == list(expected["action"])
    for metric in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"):
        np.testing.assert_allclose(written[metric], expected[metric], rtol=0, atol=1e-6)
    assert summary["mpjpe"] == pytest.approx(float(expected["mpjpe"].iloc[-1]), abs=1e-6)


OTHER_RELEASES = {  # layout -> (variant inferred, S, the paper's rows beside ours in the Table 1 layout)
    "MixSTE": ("mixste", None, [f"| MPJPE (mm) | paper (Human3.6M) | MixSTE | 81 | - | 1 | "
                                f"{paper('table1', 'mpjpe', 'MixSTE', 81, 'Directions')} |",
                                "| MPJPE (mm) | paper (Human3.6M) | MixSTE* | 81 | - | 1 | - |",
                                "| MixSTE (release file) | 9 | - | 1 |"]),
    "PoseFormer": ("poseformer", None, [f"| MPJPE (mm) | paper (Human3.6M) | Poseformer | 81 | - | 1 | "
                                        f"{paper('table1', 'mpjpe', 'Poseformer', 81, 'Directions')} |",
                                        "| MPJPE (mm) | paper (Human3.6M) | PoseFormer* | 81 | - | 1 | - |"]),
    "Diff3DHPE-P": ("diff3dhpe-p", 3, ["| MPJPE (mm) | paper (Human3.6M) | Diff3DHPE-P | 81 | 5 | 1 | - |"]),
}


@pytest.mark.parametrize("layout", list(OTHER_RELEASES))
def test_other_official_files_are_recognised_and_scored_as_the_library_does(study, layout):
    variant, steps, paper_rows = OTHER_RELEASES[layout]
    path = study["root"] / f"{layout}.bin"
    model = write_release_file(path, layout)
    out = study["root"] / f"eval_{layout}"
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "h36m", "--out", str(out)) == 0
    written, summary, markdown, _ = read_out(out)
    assert set(written["variant"]) == {variant} and summary["steps"] == steps
    params = study["params"]
    data = load_dataset(params, "h36m", "det")
    trained = TrainedRun(RunSpec("h36m", "det", 9, variant, 0), model, release_scale(params, "h36m").mm,
                         torch.device("cpu"), diffusion=Diffusion(1000, compat="release"))
    predictions, _ = predict_sequences(params, trained, data.test, data.layout, steps)
    expected = score("h36m", data.test, predictions)
    np.testing.assert_allclose(written["mpjpe"], expected["mpjpe"], rtol=0, atol=1e-6)
    # (d) the paper's rows of the same model: Table 1 as published (F = 81), and Table 4's Average-only
    # row of the authors' retrained baseline / Diff3DHPE-P
    for row in paper_rows:
        assert row in markdown


# ------------------------------------------------------------------ (c) --normalisation


def test_normalisation_flag_rescales_the_decoded_poses(study, official):
    path, out = official
    default, summary, _, _ = read_out(out)
    doubled = study["root"] / "eval_doubled"
    factor = 2 * summary["scale_mm"]
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "h36m", "--normalisation", str(factor),
                   "--out", str(doubled)) == 0
    rescaled, rescaled_summary, _, _ = read_out(doubled)
    assert rescaled_summary["scale_mm"] == pytest.approx(factor)
    assert rescaled_summary["normalisation"].startswith("given")
    # the sampled normalised poses are the same (same noise); decoded twice as large: only the scale-free
    # metrics (Procrustes and optimal scale) are unchanged
    np.testing.assert_allclose(rescaled["p_mpjpe"], default["p_mpjpe"], rtol=1e-6)
    np.testing.assert_allclose(rescaled["n_mpjpe"], default["n_mpjpe"], rtol=1e-6)
    assert not np.allclose(rescaled["mpjpe"], default["mpjpe"])
    ours = study["root"] / "eval_ours"
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "h36m", "--normalisation", "ours",
                   "--out", str(ours)) == 0
    data = load_dataset(study["params"], "h36m", "det")
    assert read_out(ours)[1]["scale_mm"] == pytest.approx(data.scale())


# ------------------------------------------------------------------ (d) tables, 3DHP and our own files


def test_tables_show_the_papers_row_labelled_as_the_papers(official):
    path, out = official
    _, _, markdown, latex = read_out(out)
    # Table 1 layout: both protocols, the paper's Diff3DHPE-M rows at the paper's F (81: S=9, 243: S=5)
    first = paper("table1", "mpjpe", "Diff3DHPE-M", 81, "Directions")
    assert f"| MPJPE (mm) | paper (Human3.6M) | Diff3DHPE-M | 81 | 9 | 1 | {first} |" in markdown
    protocol2 = paper("table1", "p_mpjpe", "Diff3DHPE-M", 243, "Directions")
    assert f"| P-MPJPE (mm) | paper (Human3.6M) | Diff3DHPE-M | 243 | 5 | 1 | {protocol2} |" in markdown
    assert f"| MPJPE (mm) | ours (checkpoint:{path.name}, synthetic data" in markdown
    assert "| MixSTE" not in markdown and "P-STMO" not in markdown  # only the same method
    assert f"paper (Human3.6M) & Diff3DHPE-M & 81 & 9 & 1 & {first}" in latex
    assert "evaluate --checkpoint" in latex.splitlines()[0]


def test_mpi_inf_3dhp_checkpoint_reports_both_mpjpes_in_the_table_3_layout(study):
    path = study["root"] / "diff3dhpe_3dhp_f9.bin"
    write_release_file(path, "Diff3DHPE")
    out = study["root"] / "eval_3dhp"
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "3dhp", "--out", str(out)) == 0
    written, summary, markdown, _ = read_out(out)
    assert list(written["action"])[-2:] == ["Average", "All"] and set(written["input_2d"]) == {"gt"}
    average, pooled = written.iloc[-2], written.iloc[-1]
    sequences = written.iloc[:-2]
    assert average["mpjpe"] == pytest.approx(sequences["mpjpe"].mean())
    weights = sequences["frames_scored"] / sequences["frames_scored"].sum()
    assert pooled["mpjpe"] == pytest.approx((sequences["mpjpe"] * weights).sum())
    assert summary["mpjpe_all_frames"] == pytest.approx(pooled["mpjpe"])
    params = study["params"]
    files = params.data.file("3dhp", "train"), params.data.file("3dhp", "test")
    assert summary["scale_mm"] == pytest.approx(release_scale_3dhp(*files))
    header = "| Source | Method | F | S | Seeds | PCK (%) | AUC (%) | MPJPE, mean of sequences (mm) | " \
             "MPJPE, all frames (mm) |"
    assert header in markdown
    published = [paper("table3", metric, "Diff3DHPE-M", 27, "All") for metric in ("pck", "auc", "mpjpe")]
    assert f"| paper (MPI-INF-3DHP) | Diff3DHPE-M | 27 | 7 | 1 | {' | '.join(published)} | - |" in markdown
    ours = next(line for line in markdown.splitlines() if line.startswith("| ours"))
    assert ours.endswith(f"| {average['mpjpe']:.1f} | {pooled['mpjpe']:.1f} |")


def test_our_own_model_file_uses_its_run_and_stored_scale(study):
    torch.manual_seed(0)
    model = build_model("mixste", frames=9, objective="denoiser", dim=16, depth=1, heads=2)
    path = study["root"] / "runs" / "h36m-det-f9-diff3dhpe-m-s1" / "model.pt"
    save_checkpoint(path, {"model_config": model.config, "model": model.state_dict(), "scale": 987.5,
                           "epoch": 2, "history": [], "variant": "diff3dhpe-m", "params_digest": "x",
                           "run": "h36m-det-f9-diff3dhpe-m-s1", "selection": "last"})
    out = study["root"] / "eval_ours_model"
    assert run_cli(study, "--checkpoint", str(path), "--out", str(out)) == 0  # dataset from the file
    written, summary, _, _ = read_out(out)
    assert summary["scale_mm"] == 987.5 and summary["origin"] == "ours"
    assert set(written["seed"]) == {1} and set(written["input_2d"]) == {"det"}
    assert set(written["steps"]) == {tiny_steps(study)}
    assert summary["compat"] == "paper"  # params diffusion.compat, not the release's form


def test_quick_look_scores_the_first_frames_of_the_named_subjects(study, official):
    path, _ = official
    out = study["root"] / "eval_quick"
    assert run_cli(study, "--checkpoint", str(path), "--dataset", "h36m", "--subjects", "S9",
                   "--max-frames", "30", "--out", str(out)) == 0
    written, summary, markdown, _ = read_out(out)
    assert summary["frames_scored"] == 30 and summary["frames_lifted"] == 30
    assert "Quick look, not the full protocol: 30 scored frames of S9" in markdown


# ------------------------------------------------------------------ (e) bad input


def _unknown_layout(study):
    path = study["root"] / "unknown.pth"
    torch.save({"epoch": 1, "weights": {"encoder.weight": torch.zeros(2, 2)}}, path)
    return [str(path), "--dataset", "h36m"], "layouts tried"


def _frames_of_another_dataset(study):
    path = study["root"] / "diff3dhpe_f243.bin"  # F = 243: a Human3.6M setting of the paper
    write_release_file(path, "Diff3DHPE", frames=243)
    return [str(path), "--dataset", "3dhp"], "F=243 is a setting of h36m/det, h36m/gt"


def _dataset_of_another_run(study):
    torch.manual_seed(0)
    model = build_model("mixste", frames=9, objective="regression", dim=16, depth=1, heads=2)
    path = study["root"] / "ours_h36m.pt"
    save_checkpoint(path, {"model_config": model.config, "model": model.state_dict(), "scale": 900.0,
                           "variant": "mixste", "run": "h36m-det-f9-mixste-s0"})
    return [str(path), "--dataset", "3dhp"], "was trained on h36m"


BAD_INPUTS = {
    "missing file": lambda study: ([str(study["root"] / "absent.bin"), "--dataset", "h36m"], "not found"),
    "unknown layout": _unknown_layout,
    "frames of another dataset": _frames_of_another_dataset,
    "dataset of another run": _dataset_of_another_run,
    "no dataset for an official file": lambda study: ([str(study["root"] / "diff3dhpe_h36m_f9.bin")],
                                                      "pass --dataset"),
    "bad normalisation": lambda study: ([str(study["root"] / "diff3dhpe_h36m_f9.bin"), "--dataset", "h36m",
                                         "--normalisation", "metres"], "--normalisation must be"),
    "not a test subject": lambda study: ([str(study["root"] / "diff3dhpe_h36m_f9.bin"), "--dataset", "h36m",
                                          "--subjects", "S1"], "not among the test subjects"),
    "steps of a regression model": lambda study: ([str(study["root"] / "MixSTE.bin"), "--dataset", "h36m",
                                                   "--steps", "3"], "has no sampler"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_named_and_nothing_is_written(study, official, case, capsys):
    if case == "steps of a regression model" and not (study["root"] / "MixSTE.bin").exists():
        write_release_file(study["root"] / "MixSTE.bin", "MixSTE")
    args, message = BAD_INPUTS[case](study)
    out = study["root"] / "bad" / case.replace(" ", "_")
    capsys.readouterr()
    assert run_cli(study, "--checkpoint", *args, "--out", str(out)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_run_only_and_checkpoint_only_flags_do_not_mix(study, capsys):
    assert run_cli(study, "--run", "h36m-det-f9-mixste-s0", "--dataset", "h36m") == 2
    assert "apply to --checkpoint FILE only" in capsys.readouterr().err


# ------------------------------------------------------------------ `diff3dhpe normalisation`


def test_normalisation_command_prints_the_release_constant_of_synthetic_and_user_files(study, capsys,
                                                                                        tmp_path):
    params = study["params"]
    path_3d = params.data.file("h36m", "file_3d")
    capsys.readouterr()
    assert main(["normalisation", "--params", str(study["path"])]) == 0
    printed = capsys.readouterr().out.splitlines()
    s = release_scale_h36m(path_3d)
    assert printed[0].startswith(f"h36m: s = {s:.9g} m; decode factor {s * 1000:.9g} mm")
    s_3dhp = release_scale_3dhp(params.data.file("3dhp", "train"), params.data.file("3dhp", "test"))
    assert printed[1].startswith(f"3dhp: s = {s_3dhp:.9g} mm; decode factor {s_3dhp:.9g} mm")

    # the same files named as the user's own (data.source files): the same number
    raw = {**study["raw"], "data": {**study["raw"]["data"], "source": "files"}}
    raw["data"]["h36m"] = {"file_3d": path_3d.name}
    files = tmp_path / "params.yaml"
    files.write_text(yaml.safe_dump(raw))
    assert main(["normalisation", "--params", str(files), "--dataset", "h36m"]) == 0
    assert capsys.readouterr().out.startswith(f"h36m: s = {s:.9g} m")
    raw["data"]["h36m"] = {"file_3d": "data_3d_absent.npz"}
    files.write_text(yaml.safe_dump(raw))
    assert main(["normalisation", "--params", str(files), "--dataset", "h36m"]) == 2
    assert "data.h36m.file_3d" in capsys.readouterr().err
