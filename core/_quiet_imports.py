"""Start-up costs of libraries AEGIS does not use: structlog's rich renderer, pydantic's plugin discovery.

`import structlog` imports structlog.dev and structlog.tracebacks, which import rich's traceback
and pretty-printer when rich is installed: tens of milliseconds of every CLI start, for a rich
exception renderer AEGIS never uses (format_exc_info renders exceptions before our renderers).
Hiding rich for that one import makes structlog fall back to its plain formatter; rich stays
importable for the terminal report. Called from aegis/core/__init__.py, so it runs before any
module imports structlog.
"""

from __future__ import annotations

import sys


def preload_structlog() -> None:
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # None in sys.modules makes `import rich` raise ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


def skip_pydantic_plugin_discovery() -> None:
    """AEGIS uses no pydantic plugins; looking for them reads every installed package's metadata.

    pydantic scans the `pydantic` entry-point group when the first model is built (importlib.metadata
    over the whole environment, ~15 ms with LangChain's packages installed). A value the user set wins.
    With plugins off, pydantic's loader module is replaced by one that has none: importing the real
    one imports importlib.metadata (email, zipfile, csv: ~10 ms) only to find the switch is off.
    """
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in ("__all__", "1", "true") and "pydantic.plugin._loader" not in sys.modules:
        import types

        loader = types.ModuleType("pydantic.plugin._loader", "pydantic's plugin loader, with plugins switched off (see aegis.core._quiet_imports)")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules["pydantic.plugin._loader"] = loader


def _no_plugins() -> tuple[()]:
    return ()
