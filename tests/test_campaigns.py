"""Campaign log contract (analysis.campaigns): groups and yes/no holdouts, recognised headers,
the three file formats, every documented error with file, column and rows, and the log a
60-strategy run implies."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.campaigns import campaign_log_from_run, read_campaign_log, validate_campaign_log
from analysis.errors import DataContractError


def log_frame(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": ["001", "002", "003", "004"],
                          "campaign": ["spring", "spring", "spring", "vip"],
                          "group": ["treated", "control", "Holdout", "实验组"],
                          "contact_date": ["2024-03-01", "2024-03-01", "2024/3/2", "2024-04-01"]})
    return frame.assign(**changes)


def test_groups_are_read_as_treated_or_holdout():
    log = validate_campaign_log(log_frame())
    assert list(log.columns) == ["customer_id", "campaign", "group", "contact_date"]
    assert log["group"].tolist() == ["treated", "holdout", "holdout", "treated"]
    assert log["contact_date"].tolist() == [pd.Timestamp(d) for d in (
        "2024-03-01", "2024-03-01", "2024-03-02", "2024-04-01")]
    assert log["customer_id"].tolist() == ["001", "002", "003", "004"]


@pytest.mark.parametrize("flags", [[True, False, True, False], ["yes", "no", "是", "否"],
                                   ["1", "0", "true", "FALSE"],
                                   ["对照组", "实验组", "控制组", "触达组"]])
def test_a_yes_no_holdout_column_replaces_group(flags):
    log = validate_campaign_log(log_frame().drop(columns="group").assign(holdout=flags))
    assert log["group"].tolist() == ["holdout", "treated", "holdout", "treated"]


def test_the_same_customer_may_be_in_two_campaigns():
    log = validate_campaign_log(log_frame(customer_id=["001", "002", "003", "001"]))
    assert len(log) == 4


def test_chinese_headers_and_optional_columns_are_recognised(tmp_path):
    path = tmp_path / "活动记录.csv"
    log_frame().rename(columns={"customer_id": "客户ID", "campaign": "活动名称", "group": "组别",
                                "contact_date": "触达日期"}).assign(
        渠道="sms", 权益="coupon").to_csv(path, index=False, encoding="utf-8-sig")
    log = read_campaign_log(path)
    assert list(log.columns) == ["customer_id", "campaign", "group", "contact_date", "channel",
                                 "offer"]
    assert log["customer_id"].iloc[0] == "001"  # leading zeros kept


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_excel_and_parquet_files(tmp_path, suffix):
    path = tmp_path / f"log{suffix}"
    frame = log_frame(my_date=pd.to_datetime(log_frame()["contact_date"], format="mixed"))
    frame = frame.drop(columns="contact_date")
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    log = read_campaign_log(path, columns={"my_date": "contact_date"})
    assert log["contact_date"].dt.day.tolist() == [1, 1, 2, 1]
    assert log["group"].tolist() == ["treated", "holdout", "holdout", "treated"]


def write(tmp_path, frame) -> str:
    path = tmp_path / "campaigns.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_unknown_group_values_name_file_column_and_rows(tmp_path):
    path = write(tmp_path, log_frame(group=["treated", "maybe", "holdout", "later"]))
    with pytest.raises(DataContractError) as caught:
        read_campaign_log(path)
    message = str(caught.value)
    assert "campaigns.csv" in message and "column 'group'" in message
    assert "unknown group" in message and "2 row(s)" in message
    assert "row 3: 'maybe'" in message and "row 5: 'later'" in message  # header is row 1
    assert "How to fix" in message


def test_unreadable_dates(tmp_path):
    path = write(tmp_path, log_frame(contact_date=["2024-03-01", "soon", "2024-03-01", ""]))
    with pytest.raises(DataContractError, match=r"(?s)contact_date.*cannot be read as a date"
                                                r".*row 3: 'soon'"):
        read_campaign_log(path)


def test_unreadable_holdout_flags():
    frame = log_frame().drop(columns="group").assign(holdout=["yes", "perhaps", "no", "no"])
    with pytest.raises(DataContractError, match=r"(?s)'holdout'.*not a yes/no.*'perhaps'"):
        validate_campaign_log(frame)


@pytest.mark.parametrize("column", ["campaign", "contact_date", "group"])
def test_missing_columns(tmp_path, column):
    path = write(tmp_path, log_frame().drop(columns=column))
    with pytest.raises(DataContractError, match=f"(?s)campaigns.csv.*{column}.*Columns present"):
        read_campaign_log(path)


def test_a_customer_twice_in_one_campaign_is_rejected_without_printing_the_id(tmp_path):
    path = write(tmp_path, log_frame(customer_id=["C000777", "C000002", "C000777", "C000004"],
                                     campaign="spring"))
    with pytest.raises(DataContractError) as caught:
        read_campaign_log(path)
    message = str(caught.value)
    assert "twice in one campaign" in message and "row 2" in message and "row 4" in message
    assert "C000777" not in message


def test_empty_ids_and_bad_mappings():
    with pytest.raises(DataContractError, match=r"(?s)customer_id.*empty"):
        validate_campaign_log(log_frame(customer_id=["001", " ", "003", "004"]))
    with pytest.raises(DataContractError, match="not a campaign log column"):
        validate_campaign_log(log_frame(), columns={"group": "arm"})
    with pytest.raises(DataContractError, match="no such column"):
        validate_campaign_log(log_frame(), columns={"wave": "campaign"})


def test_missing_file():
    with pytest.raises(DataContractError, match="file not found"):
        read_campaign_log("/nonexistent/campaigns.csv")


def customers_360() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"],
                         "rule_id": ["vip", "vip", None, "lapsed"],
                         "holdout": [False, True, False, False],
                         "contact_channel": ["account_manager", "account_manager", None, "sms"],
                         "offer": ["gift", "gift", None, "coupon"],
                         "clv": [1.0, 2.0, 3.0, 4.0]})


def test_campaign_log_from_a_strategy_run():
    log = campaign_log_from_run(customers_360(), "2025-01-06")
    assert log["campaign"].tolist() == ["vip", "vip", "lapsed"]  # no rule: not in a campaign
    assert log["group"].tolist() == ["treated", "holdout", "treated"]
    assert (log["contact_date"] == pd.Timestamp("2025-01-06")).all()
    assert log["channel"].tolist() == ["account_manager", "account_manager", "sms"]
    assert "clv" not in log


def test_campaign_log_from_run_needs_the_strategy_columns():
    with pytest.raises(DataContractError, match=r"(?s)customers.parquet.*'holdout'"):
        campaign_log_from_run(customers_360().drop(columns="holdout"), "2025-01-06")
    with pytest.raises(DataContractError, match="not a date"):
        campaign_log_from_run(customers_360(), "next week")
