"""The install files agree with each other and the notebooks follow the house rules."""

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[dev]" in pip_section
    assert sorted(d for d in pip_section if d != "-e .[dev]") == sorted(project["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    floor = re.search(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, floor.split(".")))


def test_lifetimes_is_pinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "lifetimes==0.11.3" in deps


def notebooks():
    return sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_notebooks_are_stripped_and_have_a_kernelspec():
    assert notebooks()
    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["metadata"]["kernelspec"]["name"] == "python3", path
        for cell in nb["cells"]:
            tags = cell.get("metadata", {}).get("tags", [])
            if cell["cell_type"] == "code" and "keep_output" not in tags:
                assert not cell.get("outputs"), f"{path.name}: outputs in an untagged cell"


def test_notebooks_stay_thin():
    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert len(nb["cells"]) <= 25, path
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class) ", source, re.M), f"{path.name}: def/class"
            assert "sys.path" not in source
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" not in tags:
                assert source.count("\n") < 15, f"{path.name}: cell over 15 lines"


def test_every_parameter_line_is_declared_to_papermill():
    """papermill silently drops parameter lines it cannot parse (e.g. '=' inside the help)."""
    from analysis.runner import notebook_parameters

    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        lines = [ln for ln in "".join(cell["source"]).splitlines() if ln.strip()]
        declared = notebook_parameters(path)
        assert len(declared) == len(lines), f"{path.name}: some parameter lines do not parse"
        for spec in declared.values():
            assert spec["help"], f"{path.name}: {spec['name']} has no help comment"
            assert spec["inferred_type_name"] != "None", f"{path.name}: {spec['name']} untyped"


def test_shared_parameters_have_one_default():
    from analysis.runner import notebook_parameters

    seen: dict[str, tuple[str, str]] = {}
    for path in notebooks():
        for name, spec in notebook_parameters(path).items():
            if name in seen:
                assert seen[name][1] == spec["default"], f"{name}: {path.name} vs {seen[name][0]}"
            seen[name] = (path.name, spec["default"])
