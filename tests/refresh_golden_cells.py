"""Refresh the golden (``keep_output``) cells of the committed notebooks: ``make golden``.

Runs each report notebook with its default parameters and copies the outputs of the cells
tagged ``keep_output`` into the committed notebook; every other cell stays stripped.
"""

import json
import pathlib
import tempfile

import papermill

for path in sorted(pathlib.Path("notebooks").glob("[0-9]*.ipynb")):
    executed_path = pathlib.Path(tempfile.mkdtemp()) / path.name
    papermill.execute_notebook(str(path), str(executed_path), kernel_name="python3",
                               progress_bar=False, cwd="notebooks")
    executed = json.loads(executed_path.read_text(encoding="utf-8"))
    # papermill adds an injected-parameters cell only when parameters are passed: none here
    committed = json.loads(path.read_text(encoding="utf-8"))
    for cell, run in zip(committed["cells"], executed["cells"], strict=True):
        if "keep_output" in cell.get("metadata", {}).get("tags", []):
            cell["outputs"] = [o for o in run["outputs"]
                               if o["output_type"] != "stream" or o["name"] == "stdout"]
            cell["execution_count"] = run["execution_count"]
    path.write_text(json.dumps(committed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("refreshed", path)
