"""``python -m scheduler``: see :mod:`scheduler.cli`."""

from .cli import run

run()
