"""The HTTP API and web UI over a repository (install the ``server`` extra).

from modelsync.api import Settings, create_app
app = create_app("path/to/repo", Settings(token="...", public_read=True))
"""

from .app import create_app, create_app_from_env
from .deps import RepoDep, get_repo
from .settings import Settings

__all__ = ["RepoDep", "Settings", "create_app", "create_app_from_env", "get_repo"]
