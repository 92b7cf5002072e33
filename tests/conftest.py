"""Fixtures shared by the pipeline tests."""

import pytest
import yaml
from test_config import tiny_params

from diff3dhpe.cli import main
from diff3dhpe.config import parse_params


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """Tiny synthetic data prepared once per module through the CLI; params as file, dict and object."""
    root = tmp_path_factory.mktemp("study")
    raw = tiny_params(root / "data")
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["prepare", "--params", str(path), "--results", str(root / "results")]) == 0
    return {"root": root, "path": path, "params": parse_params(raw), "raw": raw}
