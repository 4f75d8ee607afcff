"""The commands, one module per noun or verb group. Each has a ``register(app)`` that adds its
commands (or, for ``show``, its sections) and is listed in ``cli.main.COMMANDS``, which imports
it only when one of its commands runs."""
