"""``python -m scheduler``: see :mod:`scheduler.cli`."""

from .cli import run

if __name__ == "__main__":  # not when a spawned search worker imports it
    run()
