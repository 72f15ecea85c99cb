"""The soak run of tests/soak.py, short: mixed signed traffic with the server SIGKILLed and
started again every few seconds loses nothing acknowledged and applies nothing twice."""

from pathlib import Path

import soak

SECONDS = 20.0
KILL_AFTER = (2.0, 4.0)


def test_a_short_soak_with_random_kills_loses_and_doubles_nothing(
    database_url: str, tmp_path: Path
) -> None:
    figures = soak.run(database_url, tmp_path, SECONDS, KILL_AFTER, seed=7)
    assert figures.problems == ()
    assert figures.kills >= 4
    assert (figures.lost, figures.doubled, figures.unledgered) == (0, 0, 0)
    assert figures.positions_reconcile
    assert figures.transactions > 0 and figures.acknowledged > figures.transactions
