"""The ``prepare`` stage: the data files a study reads, made or found, then checked before any run.

params ``data.source`` says where the data comes from:

- ``synthetic``: the embedded generator writes both data sets into data.dir (DATA.md §3);
- ``raw``: the official downloads under data.raw.* are converted into data.dir (DATA.md §5);
- ``files``: the user's own files in data.dir (DATA.md §1, §2), left untouched.

Then every file of the datasets the run matrix needs must exist and load (Human3.6M with both 2D
inputs), so format problems surface here rather than mid-study, and ``<results>/provenance.json``
records where the data came from (the report labels every table row with it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from diff3dhpe.assemble import load_dataset
from diff3dhpe.atomic import atomic_write_json
from diff3dhpe.config import DataParams, Params, check_data_files
from diff3dhpe.data.files import h36m_name, mpi3dhp_name
from diff3dhpe.data.raw import convert_3dhp_raw, convert_h36m_raw
from diff3dhpe.data.synthetic import generate_3dhp, generate_h36m
from diff3dhpe.errors import ConfigError
from diff3dhpe.results import PROVENANCE_FILE
from diff3dhpe.variants import DATASET_NAMES

log = logging.getLogger("diff3dhpe.prepare")

SplitCounts = dict[str, tuple[int, int]]  # split -> (sequences, frames)


@dataclass(frozen=True)
class PreparedData:
    """What ``prepare_data`` did: where the data is, what it is, and what loaded."""

    data_dir: Path
    source: str  # data.source: synthetic | raw | files
    datasets: tuple[str, ...]  # the datasets the run matrix trains on
    provenance: dict[str, str]  # dataset -> where its data came from (the content of provenance.json)
    provenance_path: Path
    loaded: dict[str, SplitCounts]  # '<dataset>/<input_2d>' -> split -> (sequences, frames)

    def __str__(self) -> str:
        return f"data ready in {self.data_dir}/ for {', '.join(self.datasets)} (source: {self.source})"


def needed_datasets(params: Params) -> list[str]:
    """The datasets of the run matrix, sorted; ['h36m'] when the matrix is empty."""
    return sorted({run.dataset for run in params.train_runs()}) or ["h36m"]


def needed_inputs(params: Params, dataset: str) -> list[str]:
    """The 2D inputs ('det', 'gt') the run matrix uses on ``dataset``; both when it uses none (H36M)."""
    used = {run.input_2d for run in params.train_runs() if run.dataset == dataset}
    if dataset == "3dhp":
        return ["gt"]
    return sorted(used) or ["det", "gt"]


def prepare_data(params: Params, results_dir: str | Path) -> PreparedData:
    """Generate, convert or find the data of ``params``, check it loads, write ``provenance.json``.

    Raises ConfigError naming the params key when a source is not set up (data.dir missing with
    source 'files', data.raw.* unset or a file name the raw converter cannot write), or when a data
    file is missing after preparing; DataFormatError when a file does not load. Nothing is written to
    ``results_dir`` unless every check passes.
    """
    data = params.data
    datasets = needed_datasets(params)
    out = Path(data.dir)
    if data.source == "synthetic":
        out.mkdir(parents=True, exist_ok=True)
        provenance = _generate_synthetic(data, out)
    elif data.source == "raw":
        provenance = _convert_raw(data, datasets, out)
    else:
        if not out.is_dir():
            raise ConfigError(
                f"data.dir: folder {out} does not exist; with data.source 'files' it must hold your data "
                "files (DATA.md §1, §2): create it and put them there, or point data.dir at them"
            )
        provenance = {dataset: provenance_label(data, dataset) for dataset in DATASET_NAMES}
    for dataset in datasets:
        check_data_files(params, [dataset], needed_inputs(params, dataset))
    loaded = check_readable(params, datasets)
    provenance = {dataset: text for dataset, text in provenance.items() if dataset in datasets}
    path = atomic_write_json(provenance, Path(results_dir) / PROVENANCE_FILE)
    return PreparedData(out, data.source, tuple(datasets), provenance, path, loaded)


def _generate_synthetic(data: DataParams, out: Path) -> dict[str, str]:
    """Both synthetic data sets into ``out`` (DATA.md §3); their provenance labels."""
    syn = data.synthetic
    extra = {"actions": syn.actions} if syn.actions else {}
    generate_h36m(out, name=syn.name, seed=syn.seed, frames_per_take=syn.frames_per_take,
                  subjects=syn.subjects, lifter_check=syn.detector_check, **extra)
    generate_3dhp(out, name=syn.name, seed=syn.seed, frames_per_sequence=syn.mpi3dhp_frames_per_sequence,
                  test_frames=syn.mpi3dhp_test_frames)
    return {dataset: provenance_label(data, dataset) for dataset in DATASET_NAMES}


def _convert_raw(data: DataParams, datasets: list[str], out: Path) -> dict[str, str]:
    """The official downloads of ``datasets`` converted into ``out`` (DATA.md §5); provenance labels.

    Every setting is checked before anything is converted.
    """
    settings = {}  # dataset -> (download folder, <name> of the files to write)
    if "h36m" in datasets:
        settings["h36m"] = (_raw_root(data.raw.h36m, "data.raw.h36m", "Human3.6M"),
                            _file_stem(h36m_name, data.h36m.file_3d, "data.h36m.file_3d"))
    if "3dhp" in datasets:
        settings["3dhp"] = (_raw_root(data.raw.mpi3dhp, "data.raw.mpi3dhp", "MPI-INF-3DHP"),
                            _file_stem(mpi3dhp_name, data.mpi3dhp.train, "data.mpi3dhp.train"))
    out.mkdir(parents=True, exist_ok=True)
    converters = {"h36m": convert_h36m_raw, "3dhp": convert_3dhp_raw}
    for dataset, (root, name) in settings.items():
        converters[dataset](root, out, name=name)
    return {dataset: provenance_label(data, dataset) for dataset in DATASET_NAMES}


def provenance_label(data: DataParams, dataset: str) -> str:
    """Where params data.* says the data of ``dataset`` comes from, as provenance.json records it (and
    tables print it), e.g. 'synthetic data (Human3.6M format, generator seed 0)'."""
    title = DATASET_NAMES[dataset]
    if data.source == "synthetic":
        return f"synthetic data ({title} format, generator seed {data.synthetic.seed})"
    if data.source == "raw":
        return f"{title} (converted from the official release)"
    return f"{title} (user-supplied files)"


def _raw_root(root: str | None, key: str, dataset_name: str) -> str:
    if not root:
        raise ConfigError(f"{key}: set it to the folder of the official {dataset_name} download")
    return root


def _file_stem(inverse, file_name: str, key: str) -> str:
    """The <name> a raw converter needs to write ``file_name`` (``h36m_name`` / ``mpi3dhp_name``)."""
    try:
        return inverse(file_name)
    except ValueError as err:
        raise ConfigError(f"{key}: the raw converter cannot write this file: {err}") from None


def check_readable(params: Params, datasets: list[str]) -> dict[str, SplitCounts]:
    """Load each dataset once per 2D input the runs use, so format problems surface here, not mid-study.

    Returns '<dataset>/<input_2d>' -> split -> (sequences, frames); raises what
    ``diff3dhpe.assemble.load_dataset`` raises (ConfigError, DataFormatError).
    """
    loaded = {}
    for dataset in datasets:
        for input_2d in needed_inputs(params, dataset):
            summary = load_dataset(params, dataset, input_2d).summary()
            counts = {split: (s["sequences"], s["frames"]) for split, s in summary.items()}
            log.info("%s/%s: %s", dataset, input_2d, counts)
            loaded[f"{dataset}/{input_2d}"] = counts
    return loaded
