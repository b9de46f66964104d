"""Which campaign log the evaluation measures: a file, the data's own log, or the control groups
a previous strategy run recorded, in that order."""

import json

import pandas as pd

from analysis.evaluation_sources import campaign_log_for_run, evaluation_table


def _log(campaign: str) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["CUST-0001", "CUST-0002"], "campaign": campaign,
                         "group": ["treated", "holdout"], "contact_date": "2024-03-01"})


def _previous_run(folder):
    (folder / "artifacts").mkdir(parents=True)
    pd.DataFrame({"customer_id": ["CUST-0001", "CUST-0002", "CUST-0003"],
                  "rule_id": ["vip", "vip", "lapsed"], "rule": ["VIP", "VIP", "Lapsed"],
                  "holdout": [False, True, False]}).to_parquet(
        folder / "artifacts" / "customers.parquet")
    (folder / "artifacts" / "strategy.json").write_text(json.dumps({"today": "2024-05-01"}),
                                                        encoding="utf-8")
    return folder


def test_the_first_log_found_wins(tmp_path):
    artifacts = tmp_path / "now" / "artifacts"
    artifacts.mkdir(parents=True)
    previous = _previous_run(tmp_path / "before")
    assert campaign_log_for_run(artifacts) == (None, {"origin": None, "source": ""})

    log, origin = campaign_log_for_run(artifacts, previous_run=previous)
    assert origin == {"origin": "previous_run", "source": "before",
                      "names": {"vip": "VIP", "lapsed": "Lapsed"}}
    assert log.groupby("campaign")["group"].apply(sorted).to_dict() == {
        "lapsed": ["treated"], "vip": ["holdout", "treated"]}
    assert (log["contact_date"] == pd.Timestamp("2024-05-01")).all()

    _log("data").to_parquet(artifacts / "campaigns.parquet")
    log, origin = campaign_log_for_run(artifacts, previous_run=previous)
    assert origin["origin"] == "data" and set(log["campaign"]) == {"data"}

    path = tmp_path / "contacts.csv"
    _log("file").to_csv(path, index=False)
    log, origin = campaign_log_for_run(artifacts, path=str(path), previous_run=previous)
    assert origin == {"origin": "file", "source": str(path)} and set(log["campaign"]) == {"file"}


def test_the_table_to_compare_is_the_strategy_360_else_the_segments(tmp_path):
    assert evaluation_table(tmp_path) is None
    pd.DataFrame({"customer_id": ["a"], "rfm_segment": ["lost"]}).to_parquet(
        tmp_path / "segments.parquet")
    assert list(evaluation_table(tmp_path).columns) == ["customer_id", "rfm_segment"]
    pd.DataFrame({"customer_id": ["a"], "rule_id": ["vip"]}).to_parquet(
        tmp_path / "customers.parquet")
    assert "rule_id" in evaluation_table(tmp_path)
