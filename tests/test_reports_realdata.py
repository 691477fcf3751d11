"""Every report format on a real race: Grand Trail des Templiers 2022, course and track."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from coursewatch.analysis import Analysis
from coursewatch.cli import main
from coursewatch.cli.analyze import run_analysis
from coursewatch.race import load_race
from coursewatch.reports.html import render_html
from coursewatch.reports.summary import ReportInfo, headline
from coursewatch.reports.text import print_analysis

pytestmark = pytest.mark.realdata

NAME = "grand_trail_des_templiers_2022.gpx"
# Stations placed by distance for the test (not the race's real aid stations), and a made-up
# reference to race against: what matters is that the ghost rides along on real data.
RACE = """\
name: Templiers test
course: {course}
start: "2022-10-23T00:00:00Z"
stations:
  - {{name: Station A, km: 20}}
  - {{name: Station B, km: 40}}
  - {{name: Station C, km: 60}}
reference_splits:
  Reference:
    - {{station: Station A, elapsed: "02:00:00"}}
    - {{station: Station C, elapsed: "08:00:00"}}
"""


@pytest.fixture(scope="module")
def files(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    course = data_dir / "courses" / NAME
    race = tmp_path_factory.mktemp("race") / "templiers.race.yaml"
    race.write_text(RACE.format(course=json.dumps(str(course))), encoding="utf-8")
    return course, data_dir / "tracks" / NAME, race


@pytest.fixture(scope="module")
def analysis(files: tuple[Path, Path, Path]) -> Analysis:
    return run_analysis(*files)


def test_terminal_report_with_stations_and_ghost(
    analysis: Analysis, files: tuple[Path, Path, Path]
) -> None:
    info = ReportInfo.build(analysis, "runner", load_race(files[2]))
    con = Console(record=True, width=120, file=io.StringIO())
    print_analysis(analysis, info, con)
    out = con.export_text()
    assert re.search(r"\d+ excursions?, (\d+ m|\d+\.\d km) extra", headline(analysis))
    assert headline(analysis) in out
    assert "Splits (ghost: Reference)" in out
    line = next(s for s in out.splitlines() if "Station C" in s)
    assert re.search(r"[+-]\d+:\d\d", line), line  # the gap to the ghost
    assert "Finished in 10:36:29" in out


def test_html_report_on_real_data(analysis: Analysis) -> None:
    page = render_html(analysis, ReportInfo.build(analysis, "runner"))
    assert len(page) < 1_500_000
    assert page.count('<li class="excursion') == len(analysis.excursions) >= 1


def test_cli_writes_the_post_and_its_picture(
    files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    course, track, _ = files
    post = tmp_path / "post.md"
    args = ["analyze", str(course), str(track), "--format", "markdown", "-o", str(post)]
    res = CliRunner().invoke(main, [*args, "--width", "800", "--height", "500"])
    assert res.exit_code == 0, res.output
    text = post.read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["date"].isoformat().startswith("2022-10-23")
    assert "(post.png)" in text and "every 10 km" in text
    with Image.open(tmp_path / "post.png") as image:
        assert image.size == (800, 500)
