"""End to end: reports/params/cdnow-paper.yaml reproduces the published CDNOW estimates.

Published values (CDNOW 1/10 sample, 39-week calibration, weeks = days / 7): BG/NBD (Fader,
Hardie & Lee 2005), Pareto/NBD (the same paper's comparison), Gamma-Gamma (Fader & Hardie 2013).
"""

import json
from pathlib import Path

import pytest
import yaml

from analysis.runner import run_reports

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "pareto_nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
}
PUBLISHED_SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
PUBLISHED_LOG_LIKELIHOOD = {"bgnbd": -9582.4, "pareto_nbd": -9595.0}


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    config = yaml.safe_load((ROOT / "reports/params/cdnow-paper.yaml").read_text("utf-8"))
    config["notebooks"] = ["10-data-quality", "40-clv"]
    config["bootstrap_resamples"] = 10
    path = out / "paper.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_reports(path, out=out, notebooks_dir=ROOT / "notebooks", echo=lambda _: None)
    assert result.status == "ok", result.error
    return result.run_dir


@pytest.mark.slow
def test_calibration_fits_match_the_published_estimates(paper_run):
    record = json.loads((paper_run / "artifacts/clv_model.json").read_text("utf-8"))
    candidates = {c["model"]: c for c in record["candidates"]}
    for model, published in PUBLISHED.items():
        fitted = candidates[model]["parameters"]
        for name, value in published.items():
            assert fitted[name] == pytest.approx(value, rel=0.005), (model, name)
        assert candidates[model]["log_likelihood"] == pytest.approx(
            PUBLISHED_LOG_LIKELIHOOD[model], abs=0.5)
    spend = record["spend_model_calibration"]
    assert spend["repeat_buyers_fitted"] == 946
    for name, value in PUBLISHED_SPEND.items():
        assert spend["parameters"][name] == pytest.approx(value, rel=0.005), name
    assert record["calibration_end"] == "1997-09-30" and record["time_unit"] == "week"


@pytest.mark.slow
def test_report_states_units_and_interval(paper_run):
    html = (paper_run / "40-clv.html").read_text("utf-8")
    assert "Over the next 12 months (52.2 weeks)" in html
    assert "90% interval" in html and "discounted monthly at 10% a year" in html
    assert "import analysis" not in html
