"""Trend charts on the patient page: the pack's measurements over time, drawn on the server as SVG."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from web_demo import sign_in

from rxguard.web.charts import Point, trend_chart


def test_the_patient_page_draws_each_measured_value_over_time(client: TestClient) -> None:
    sign_in(client, "ada")
    page = client.get("/patients/pat_amy").text
    edss = re.search(r'<figure class="chart-panel" id="trend-edss">.*?</figure>', page, re.S)
    assert edss, "no EDSS trend on the page"
    svg = edss.group(0)
    assert '<svg class="chart trend"' in svg and 'role="img"' in svg and "<title" in svg
    assert svg.count("<circle") == 3  # the demo's three prescriber assessments
    assert re.search(r"<desc[^>]*>EDSS score: 3 values from .* first 3, last 2\.5; lower by 0\.5\.</desc>", svg)
    assert ">10<" in svg and ">0<" in svg  # the axis runs over the pack's 0-10 range
    assert 'id="trend-relapses"' in page
    # a patient with no measured record gets no trend section
    cal = client.get("/patients/pat_cal")
    assert cal.status_code == 200 and 'id="trends"' not in cal.text


def test_points_are_placed_by_their_dates_and_values() -> None:
    svg = str(trend_chart(
        [Point(date(2026, 1, 1), 0, "0"), Point(date(2026, 1, 11), 5, "5"), Point(date(2026, 1, 31), 10, "10")],
        title="t", description="d", low=0, high=10,
    ))  # fmt: skip
    line = re.search(r'<polyline points="([^"]+)"', svg)
    assert line
    (x0, y0), (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in line.group(1).split())
    assert abs((x1 - x0) / (x2 - x0) - 10 / 30) < 0.01  # 10 of 30 days along
    assert y0 > y1 > y2 and abs((y0 - y1) - (y1 - y2)) < 0.01  # 0, 5, 10 evenly up the scale
    assert "&lt;" in str(trend_chart([Point(date(2026, 1, 1), 1, "<1")], title="<t>", description="d"))
