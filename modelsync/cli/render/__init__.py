"""How the commands' output looks: tables and colour (``tables``), terminal charts (``chart``),
commits, tree entries and ref names (``commits``), and the lines of ``log`` (``log``).

Nothing here registers a command; commands import what they print with.
"""
