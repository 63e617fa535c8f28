"""The dispatcher board: a single page at ``/board`` over the public API.

The page talks to the server only through ``/api/v1`` (see ``docs/api.md``); this
package just serves the page, its scripts and the pinned front-end libraries.
"""

from dispatch_api.board.routes import router

__all__ = ["router"]
