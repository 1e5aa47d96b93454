"""Helpers of the analytics tests: compare a service result with the dataset's expectations."""

from __future__ import annotations

from typing import Any

from tests.support.analytics_dataset import Dataset, expected_campaign, expected_totals


def assert_totals(ds: Dataset, total: dict[str, Any], office: str | None) -> None:
    exp = expected_totals(ds, office)
    assert total["volume"]["opened"] == exp["opened"]
    assert total["volume"]["by_category"] == exp["by_category"]
    assert total["volume"]["by_urgency"] == exp["by_urgency"]
    assert total["volume"]["by_channel"] == exp["by_channel"]
    assert total["digital_share_pct"] == exp["digital_share_pct"]
    assert total["follow_up_coverage_pct"] == exp["follow_up_coverage_pct"]
    assert total["backlog"] == exp["backlog"]
    assert total["first_response"]["median_hours"] == exp["first_response_median_h"]
    assert total["first_response"]["p90_hours"] == exp["first_response_p90_h"]
    for urgency, (n, median, p90) in exp["repair"].items():
        cell = total["repair_time"][urgency]
        assert (cell["n"], cell["median_hours"], cell["p90_hours"]) == (n, median, p90), urgency
    within = total["within_target"]
    assert (within["emergency"]["repairs"], within["emergency"]["within"]) == exp["within_emergency"]
    assert (within["non_emergency"]["repairs"], within["non_emergency"]["within"]) == exp["within_non_emergency"]
    assert total["sla_breaches"]["first_response"]["count"] == exp["first_response_breaches"]
    assert total["sla_breaches"]["first_response"]["applicable"] == exp["opened"]
    assert (total["reopen"]["closed"], total["reopen"]["reopened"]) == exp["reopen"]
    missed = total["missed_appointments"]
    assert missed["appointments"] == exp["appointments"]
    assert {k: v["count"] for k, v in missed["by"].items() if v["count"]} == exp["missed"]
    assert total["csat"]["pct"] == exp["csat_pct"]
    assert total["csat"]["mean"] == exp["csat_mean"]
    assert total["nps"]["score"] == exp["nps"]
    assert (total["survey_response"]["sent"], total["survey_response"]["answered"]) == exp["surveys"]
    assert total["closed_loop"]["alerts"] == exp["alerts"]
    for channel, counts in exp["notifications"].items():
        for outcome, n in counts.items():
            assert total["notifications"][channel][outcome] == n, (channel, outcome)
    assert total["sms_segments"] == exp["sms_segments"]


def assert_campaign(ds: Dataset, campaigns: dict[str, Any], office: str | None, campaign_id: str) -> None:
    exp = expected_campaign(ds, office)
    result = campaigns[campaign_id]
    assert (result["sent"], result["answered"]) == (exp["sent"], exp["answered"])
    assert {a: v["mean"] for a, v in result["axes"].items()} == exp["means"]
    assert result["nps"] == exp["nps"]
