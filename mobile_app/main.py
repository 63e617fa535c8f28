"""Entry point of the phone build (python-for-android and kivy-ios start ``main.py``).

buildozer packages this folder as the app's root, so the files of the ``mobile_app`` package
sit next to this script; registering the folder under the package name keeps every
``from mobile_app... import`` working exactly as on a desktop.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def _register_package() -> None:
    if "mobile_app" in sys.modules:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(here, "mobile_app")):
        sys.path.insert(0, here)
        return
    spec = importlib.util.spec_from_file_location(
        "mobile_app", os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the app package from {here}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mobile_app"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    _register_package()
    from mobile_app.__main__ import main

    main([])
