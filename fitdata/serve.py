"""``fitdata serve``: Voila with a configuration owned by this repository.

Safe defaults, all set here and nowhere else:

* binds the loopback address only (another address is the access-control issue's job);
* tracebacks never reach a page (``show_tracebacks=False``): callback errors are shown as a
  friendly message by the dashboards and logged on the server;
* no file is served from the dashboards folder (``file_allowlist=[]``), and the database lives
  outside that folder anyway;
* idle kernels are culled: closing a tab does not end its kernel (voila issue #1458), and each
  kernel holds ~230 MB;
* the landing page lists the dashboards with one line each on who it is for.

Every dashboard kernel inherits ``FITDATA_DB``, ``FITDATA_LANG`` and ``FITDATA_CONFIG``, which
:meth:`fitdata.ui.DashboardContext.from_environment` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fitdata.i18n import Translator
from fitdata.ui.context import ENV_CONFIG, ENV_DB, ENV_LANG

__all__ = ["DASHBOARDS", "ServeOptions", "landing_page", "serve", "voila_arguments"]

#: The dashboards in the order the landing page lists them: notebook, title key, audience key.
DASHBOARDS: tuple[tuple[str, str, str], ...] = (
    ("client_graph.ipynb", "dashboard.client_graph.title", "dashboard.client_graph.audience"),
)

#: Seconds a kernel may be idle (no execution, no messages) before it is shut down.
CULL_IDLE_TIMEOUT = 900
CULL_INTERVAL = 60


@dataclass(frozen=True)
class ServeOptions:
    """What ``fitdata serve`` was asked for."""

    db: Path
    dashboards: Path
    port: int = 8866
    lang: str = "en"
    config: Path | None = None


def default_dashboards_dir() -> Path:
    """The ``dashboards/`` folder of the repository this package is installed from."""
    return Path(__file__).resolve().parent.parent / "dashboards"


def landing_page(lang: str) -> dict[str, Any]:
    """What the landing page shows, in ``lang``."""
    tr = Translator(lang)
    return {
        "title": tr.text("app.title"),
        "intro": tr.text("app.intro"),
        "dashboards": [
            {"path": path, "title": tr.text(title), "audience": tr.text(audience)}
            for path, title, audience in DASHBOARDS
        ],
        "known": [path for path, _, _ in DASHBOARDS],
    }


def _page_config_hook(page_config: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    page_config["fitdata"] = landing_page(os.environ.get(ENV_LANG, "en"))
    return page_config


def voila_arguments(options: ServeOptions) -> list[str]:
    """Command-line arguments for Voila that implement the safe defaults above."""
    return [
        str(options.dashboards),
        f"--port={options.port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # fail clearly rather than silently serve on another port
        "--no-browser",
        "--template=fitdata",
        "--theme=light",
        "--VoilaConfiguration.classic_tree=True",
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.file_allowlist=[]",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL}",
    ]


def serve(options: ServeOptions) -> None:
    """Run Voila in this process until interrupted."""
    os.environ[ENV_DB] = str(options.db.resolve())
    os.environ[ENV_LANG] = options.lang
    if options.config is not None:
        os.environ[ENV_CONFIG] = str(options.config.resolve())
    template_root = resources.files("fitdata").joinpath("jupyter_data")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(template_root), os.environ.get("JUPYTER_PATH", "")) if p
    )
    from voila.app import Voila  # imported late: it is slow, and only this command needs it

    app = Voila()
    app.initialize(voila_arguments(options))
    app.voila_configuration.page_config_hook = _page_config_hook
    app.start()
