"""The HTML report's page as text: what is in it without a browser (the browser test opens
it), and the documents it refuses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from tests.support import compare_documents as docs

from shadowmesh.compare.html_report import REPORT_CSP, ReportError, render_html

WHEN = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)


def page(summary: dict[str, object] | None = None) -> str:
    return render_html(summary or docs.SUMMARY, docs.FIELDS, docs.SAMPLES, docs.LATENCY,
                       written_at=WHEN, source="http://127.0.0.1:15000")  # fmt: skip


def test_one_file_with_nothing_outside() -> None:
    text = page()
    assert f'content="{REPORT_CSP}"' in text
    assert "written 2026-11-28 08:00:00 UTC from http://127.0.0.1:15000" in text
    # no reference to anything but itself: no src=, no stylesheet link, no fetch or import
    assert not re.search(r"""\ssrc=|rel="stylesheet"|\bfetch\(|\bimport\s*[({"']""", text)
    # the verdict is readable without JavaScript
    assert '<span class="verdict hold">HOLD</span> default/httpbin · 360 pairs' in text
    assert "<li>GET /json: $.slideshow.author removed in 100.0% of pairs (noise 0.0%)</li>" in text


def test_the_documents_are_embedded_whole_and_cannot_end_the_script() -> None:
    hostile = {**docs.SUMMARY, "name": "</script><script>alert(1)</script>"}
    text = page(hostile)
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text,
                      re.S)  # fmt: skip
    assert found is not None
    data = json.loads(found[1])
    assert data == {"summary": hostile, "fields": docs.FIELDS, "samples": docs.SAMPLES,
                    "latency": docs.LATENCY}  # fmt: skip
    assert "<script>alert(1)" not in text
    assert "default/&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_not_json_is_refused() -> None:
    broken = {**docs.SUMMARY, "pairs": float("nan")}
    with pytest.raises(ReportError, match="cannot be written as JSON"):
        page(broken)
