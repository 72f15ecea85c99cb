"""``temix`` with one flaw of ``tests/flaws`` applied first: ``python flawed_serve.py FLAW
serve ...``. gunicorn forks its workers from this process, so they inherit the flaw."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from flaws import FLAWS
from temix.cli import main

FLAWS[sys.argv[1]].apply()
main(sys.argv[2:])
