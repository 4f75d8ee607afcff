"""The command-line interface (Typer). Never imported by the API, and never imports it."""
