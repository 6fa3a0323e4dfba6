"""`fitpipe report`: one offline HTML file whose charts headless Chromium really draws."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fitpipe.catalog import default_catalog
from fitpipe.query import named_queries, run_named_queries
from fitpipe.report import HEART_RATE_BASELINE, figures, write_report
from tests.conftest import require_tool
from tests.sql.lake import crawled_golden_lake

CHARTS = 4
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crawled_golden_lake(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(lake: Path) -> Path:
    return write_report(run_named_queries(default_catalog(lake)), lake.parent / "report.html")


def test_report_is_one_offline_file_with_charts_and_tables(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text), "every script is inline"
    assert not re.search(r"<link[^>]+href=\"?https?:", text), "no external stylesheet"
    assert text.count("Plotly.newPlot(") == CHARTS
    assert text.count("plotly.js v") >= 1, "plotly's JavaScript is embedded"
    for title in (
        "Sedentary minutes and heart rate per day",
        "Intensity distribution per day",
        "Sleep stages per night",
    ):
        assert title in text
    for query in named_queries():
        assert f'<h3 id="{query.name}">' in text
    assert text.count('<table class="result">') == len(named_queries())
    assert "<td>1503960366</td>" in text


def _axes(figure, letter: str) -> dict[str, object]:
    """The figure's axes of one kind by their trace reference: {"y": layout.yaxis, "y2": layout.yaxis2, ...}."""
    layout = figure.layout
    return {name.replace("axis", ""): layout[name] for name in layout if name.startswith(f"{letter}axis")}


def test_every_chart_names_its_axes_with_units_and_heart_rate_has_its_own_axis_from_a_baseline(lake: Path) -> None:
    drawn = figures(run_named_queries(default_catalog(lake)))
    assert len(drawn) == CHARTS
    heart_rate_axes = 0
    for title, figure in drawn:
        y_axes = _axes(figure, "y")
        for name, axis in y_axes.items():
            assert re.search(r"\((min|bpm)\b", axis.title.text or ""), (title, name, axis.title.text)
        titled_x = [axis.title.text for axis in _axes(figure, "x").values() if axis.title.text]
        assert titled_x, f"{title}: the x axis has no title"
        for trace in figure.data:
            axis = y_axes[trace.yaxis or "y"]
            if "bpm" in axis.title.text:
                heart_rate_axes += 1
                assert axis.range[0] == HEART_RATE_BASELINE, (title, axis.range)
                assert f"from {HEART_RATE_BASELINE}" in axis.title.text
                sharing = [t for t in figure.data if (t.yaxis or "y") == (trace.yaxis or "y") and t.type == "bar"]
                assert not sharing, f"{title}: heart rate drawn against bars"
    assert heart_rate_axes >= 2, "the daily chart and the heart-rate chart both draw heart rate"


def test_cli_writes_the_report(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "fitpipe", "report", "--lake", str(lake), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert out.stat().st_size > 1_000_000  # plotly's JavaScript alone is megabytes


def test_report_without_a_catalog_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fitpipe", "report", "--lake", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "fitpipe crawl" in done.stderr


def _chromium(report: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    # Debian's name, then Ubuntu's; with neither, require_tool skips (or, in CI, fails).
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or require_tool("chromium")
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, report.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.slow
def test_headless_chromium_draws_the_charts(report: Path, tmp_path: Path) -> None:
    assert_charts_drawn(report, tmp_path)


def assert_charts_drawn(report: Path, tmp_path: Path) -> None:
    """Headless Chromium renders the report: plotly drew every chart, and the screenshot is not blank."""
    dom = _chromium(report, tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # plotly draws each chart as SVG: a main-svg per chart, with bars and lines (paths) in its plot area.
    assert dom.stdout.count('class="main-svg"') >= CHARTS
    assert len(re.findall(r'<g class="trace bars"', dom.stdout)) >= 3
    assert 'class="js-line"' in dom.stdout

    png = tmp_path / "report.png"
    shot = _chromium(report, tmp_path / "profile-png", "--window-size=1400,3000", f"--screenshot={png}")
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (1400, 3000)
        top = image.convert("RGB").crop((0, 0, 1400, 1800))  # the charts come first
        colors = top.getcolors(maxcolors=1 << 20)
    assert colors is not None
    non_white = sum(count for count, rgb in colors if sum(rgb) < 3 * 235)
    assert non_white > 0.05 * 1400 * 1800, f"only {non_white} non-white pixels: the charts were not drawn"
    assert len(colors) > 50, "a drawn chart has many colours (bars, lines, antialiased text)"
