"""tests/mutation.py, on one flaw: the whole catalogue runs against the flawed server and the
figure counts the flaw killed, by its own test and no other."""

import json
from pathlib import Path

import pytest

import mutation


def test_the_whole_suite_against_one_flaw_kills_it_and_prints_the_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = tmp_path / "verdicts.json"
    status = mutation.main(["--only", "no-sha512", "--jobs", "1", "--json", str(verdicts)])
    assert status == 0
    assert json.loads(verdicts.read_text()) == [
        {
            "flaw": "no-sha512",
            "breaks": "TMX-DLC-004",
            "own_test_failed": True,
            "failed": ["TMX-DLC-004"],
            "recommendations_failed": [],
        }
    ]
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("killed 1 of 1 flaws (100%)")


def test_a_pattern_that_names_no_flaw_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no flaw matches"):
        mutation.main(["--only", "no-such-flaw"])
