"""The install paths a newcomer uses agree with each other."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_every_pyproject_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        elif not dep.startswith(("python", "pip")):
            listed.add(_name(dep))
    assert wanted - listed == set(), f"environment.yml lacks {sorted(wanted - listed)}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci, "CI must install the on-disk CPU torch wheel explicitly"
    test_line = ". .venv/bin/activate && pip install -e '.[test]' && pytest"
    assert test_line in readme and test_line in ci, "CI must run exactly the README test command"


def test_paper_results_ship_with_the_package():
    shipped = ROOT / "diff3dhpe" / "resources" / "paper_results.csv"
    header = shipped.read_text().splitlines()[0]
    assert header == "table,metric,method,frames,input_2d,steps,seeds,action,value"
