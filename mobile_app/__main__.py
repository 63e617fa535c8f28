"""``python -m mobile_app --server http://127.0.0.1:8000`` starts the technician app."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="mobile_app", description="Fieldplan technician app (Kivy)."
    )
    parser.add_argument("--server", help="dispatch API base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--data-dir", help="folder for the session, cache and outbox")
    args = parser.parse_args(argv)
    # Kivy reads sys.argv itself unless told not to; our options are not its options.
    os.environ.setdefault("KIVY_NO_ARGS", "1")

    from mobile_app.api import normalise_server

    if args.server:
        try:
            normalise_server(args.server)
        except ValueError as exc:
            parser.error(str(exc))

    from mobile_app.app import FieldApp

    FieldApp(server=args.server, data_dir=args.data_dir).run()


if __name__ == "__main__":
    main(sys.argv[1:])
