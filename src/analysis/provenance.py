"""Where a result came from: data fingerprint, package versions, git commit."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["fingerprint_file", "fingerprint_frame", "package_versions", "git_commit"]

_PACKAGES = ("fenqun", "pandas", "numpy", "scipy", "scikit-learn", "lifetimes", "duckdb",
             "ibis-framework", "pyarrow", "matplotlib", "seaborn", "papermill", "nbconvert")


def fingerprint_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as ``sha256:<hex>``."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Order-sensitive SHA-256 of a DataFrame's values and column names, as ``sha256:<hex>``."""
    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(folder: str | Path | None = None) -> str | None:
    """The checked-out git commit of ``folder`` (``-dirty`` when there are changes), or None."""
    cwd = Path(folder or Path.cwd())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty.strip() else commit
