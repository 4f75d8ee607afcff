"""The command-line interface (Typer). Never imported by the API, and never imports it.

``main`` builds the ``modelsync`` command and loads each subcommand when it runs;
``commands/`` holds one module per noun or verb group; ``render/`` how their output looks
(tables, charts, commit and log lines); ``common`` what every command shares (opening the
repository, one-line errors, ``--json``, progress).
"""
