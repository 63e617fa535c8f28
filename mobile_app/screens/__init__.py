"""One Kivy screen per module, each with its own ``.kv`` file next to it."""
