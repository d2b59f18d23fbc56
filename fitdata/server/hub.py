"""Serving the dashboards under JupyterHub: one locked-down Voila server per person.

JupyterHub logs people in (with the organisation's authenticator) and starts one single-user
server for each of them. Under fitdata that server is ``jupyterhub-singleuser`` (Jupyter Server)
with Voila as a server extension, so a person opens
``/user/<name>/voila/render/<dashboard>.ipynb``. Its environment holds ``$JUPYTERHUB_USER``, which
every kernel inherits and :func:`fitdata.data.access.current_user` reads, so each dashboard is
scoped to the hub user's role in the database's ``users`` table (``fitdata users add NAME --role
R``).

A plain single-user server lets its owner run any code (JupyterLab, terminals, the contents and
kernels APIs, or an ``execute_request`` sent over a dashboard's kernel WebSocket), and any code
can read the whole database file around the role's views. So the server this module configures
serves dashboards only:

* :class:`DashboardsOnlyAuthorizer` allows a logged-in hub user nothing of Jupyter Server's own
  API but a kernel's WebSocket and status (contents, new kernels, sessions, terminals, kernel
  specs, configuration and nbconvert are refused with 403); Voila's pages have their own
  handlers;
* the kernel WebSocket passes only the widget messages (:data:`ALLOWED_KERNEL_MESSAGES`): an
  ``execute_request`` from a browser is dropped;
* the terminals extension is off, user configuration (``~/.jupyter``) is ignored;
* Voila uses fitdata's template with tracebacks off, no files served, idle kernels culled and
  the same security headers as ``fitdata serve``.

In ``jupyterhub_config.py``::

    from fitdata.server.hub import HubDeployment, configure_spawner

    configure_spawner(c, HubDeployment(db="/srv/fitdata/service.duckdb",
                                       dashboards="/srv/fitdata/dashboards", lang="nb"))

Tested end to end in ``tests/browser/test_jupyterhub.py`` (see docs/deployment.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from traitlets.config import Config

from fitdata.i18n import LANGUAGES
from fitdata.kernel_env import ENV_CONFIG, ENV_DB, ENV_LANG
from fitdata.server.serve import SECURITY_HEADERS, apply_dashboard_settings

__all__ = [
    "ALLOWED_KERNEL_MESSAGES",
    "ALLOWED_SERVER_ACTIONS",
    "DISABLED_SERVER_EXTENSIONS",
    "DashboardsOnlyAuthorizer",
    "HubConfigError",
    "HubDeployment",
    "configure_spawner",
    "singleuser_config_file",
    "singleuser_environment",
    "singleuser_server_config",
]

#: What a browser may send over a dashboard's kernel WebSocket: ipywidgets' comm messages, the
#: kernel-info handshake and a shutdown. Anything else (``execute_request`` above all) is dropped
#: by Jupyter Server (``MappingKernelManager.allowed_message_types``). Standalone Voila (``fitdata
#: serve``) sets this same list itself; as a server extension it does not, so we must.
ALLOWED_KERNEL_MESSAGES: tuple[str, ...] = (
    "comm_open",
    "comm_close",
    "comm_msg",
    "comm_info_request",
    "kernel_info_request",
    "shutdown_request",
)

#: The (action, resource) pairs of Jupyter Server's own API that a logged-in hub user may use:
#: the WebSocket of a kernel (``execute`` on ``kernels``), whose messages are filtered by
#: :data:`ALLOWED_KERNEL_MESSAGES`, and reading a kernel's status (Voila's page polls it).
#: Voila's pages (``/voila/...``) have their own handlers.
ALLOWED_SERVER_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {("execute", "kernels"), ("read", "kernels")}
)

#: Server extensions switched off in a dashboards-only server (those that are not installed are
#: simply not loaded).
DISABLED_SERVER_EXTENSIONS: tuple[str, ...] = (
    "jupyter_server_terminals",
    "jupyterlab",
    "notebook",
    "nbclassic",
    "jupyter_lsp",
    "jupyter_server_ydoc",
    "jupyter_collaboration",
    "jupyter_server_fileid",
)


class HubConfigError(ValueError):
    """A JupyterHub deployment setting that cannot work, with what to do instead."""


@dataclass(frozen=True)
class HubDeployment:
    """What every single-user server serves.

    Attributes:
        db: The DuckDB file, on a disk every hub machine reads (opened read-only).
        dashboards: The folder with fitdata's dashboard notebooks (the repository's
            ``dashboards/``); the single-user servers' root, so nothing else is reachable.
        lang: The pages' language, ``"en"`` or ``"nb"``.
        config: An optional clinical configuration TOML file (``FITDATA_CONFIG``).
    """

    db: Path | str
    dashboards: Path | str
    lang: str = "en"
    config: Path | str | None = None

    def checked(self) -> HubDeployment:
        """The same deployment with absolute paths, after checking that they exist.

        Raises:
            HubConfigError: If the database or dashboards folder is missing, the language is
                unknown, or the configuration file does not exist.
        """
        db = Path(self.db).expanduser().resolve()
        dashboards = Path(self.dashboards).expanduser().resolve()
        if not db.is_file():
            raise HubConfigError(
                f"The fitdata database {db} does not exist. Create it with `fitdata import` "
                "(or `fitdata demo --out PATH`) and give its path as HubDeployment(db=...)."
            )
        if not dashboards.is_dir() or not any(dashboards.glob("*.ipynb")):
            raise HubConfigError(
                f"{dashboards} is not a folder of dashboard notebooks. Give the repository's "
                "dashboards/ folder as HubDeployment(dashboards=...)."
            )
        if db.is_relative_to(dashboards):
            raise HubConfigError(
                f"The database {db} lies inside the dashboards folder {dashboards}; move it "
                "out, so the single-user servers can never serve it as a file."
            )
        if self.lang not in LANGUAGES:
            raise HubConfigError(
                f"Unknown language {self.lang!r} in HubDeployment(lang=...); use one of "
                f"{', '.join(LANGUAGES)}."
            )
        config = None
        if self.config is not None:
            config = Path(self.config).expanduser().resolve()
            if not config.is_file():
                raise HubConfigError(
                    f"The clinical configuration file {config} does not exist; fix "
                    "HubDeployment(config=...) or leave it out for the default thresholds."
                )
        return HubDeployment(db, dashboards, self.lang, config)


def _template_root() -> str:
    return str(resources.files("fitdata.server").joinpath("jupyter_data"))


def singleuser_environment(
    deployment: HubDeployment, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of every single-user server (and so of its kernels).

    Args:
        deployment: What the servers serve.
        base: The environment to extend ``JUPYTER_PATH`` from (default: this process's).

    Returns:
        ``FITDATA_DB``, ``FITDATA_LANG``, ``FITDATA_CONFIG`` when set, and ``JUPYTER_PATH``
        with fitdata's Voila template first.

    Raises:
        HubConfigError: See :meth:`HubDeployment.checked`.
    """
    checked = deployment.checked()
    base = os.environ if base is None else base
    environment = {ENV_DB: str(checked.db), ENV_LANG: checked.lang}
    if checked.config is not None:
        environment[ENV_CONFIG] = str(checked.config)
    environment["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (_template_root(), base.get("JUPYTER_PATH", "")) if p
    )
    return environment


def singleuser_server_config() -> Config:
    """Jupyter Server's configuration for a dashboards-only single-user server.

    Loaded by the single-user server through :func:`singleuser_config_file`; the database and
    language come from its environment (:func:`singleuser_environment`).
    """
    config = Config()
    config.ServerApp.jpserver_extensions = {
        "voila": True,
        **{name: False for name in DISABLED_SERVER_EXTENSIONS},
    }
    config.ServerApp.terminals_enabled = False
    config.ServerApp.authorizer_class = DashboardsOnlyAuthorizer
    config.ServerApp.tornado_settings = {
        "headers": dict(SECURITY_HEADERS),
        # Voila as a server extension otherwise has its pages load MathJax 2 from cdnjs: its
        # front end keeps its bundled typesetter only when both are None, as in standalone
        # Voila. No page may load from, or tell, another host (and no dashboard uses TeX).
        "mathjax_url": None,
        "mathjax_config": None,
    }
    config.ContentsManager.allow_hidden = False
    config.MappingKernelManager.allowed_message_types = list(ALLOWED_KERNEL_MESSAGES)
    apply_dashboard_settings(config)
    return config


def singleuser_config_file() -> Path:
    """The config file a single-user server loads (``--config``): it applies the above."""
    return Path(
        str(resources.files("fitdata.server").joinpath("jupyter_data", "hub_singleuser_config.py"))
    )


def configure_spawner(
    c: Config, deployment: HubDeployment, *, python: str | os.PathLike[str] | None = None
) -> None:
    """Set JupyterHub's ``Spawner`` so every person gets a dashboards-only Voila server.

    Sets ``Spawner.cmd`` (``python -m jupyterhub.singleuser`` with the Python fitdata is
    installed in), ``args`` (the config file), ``environment`` (kept, extended), ``notebook_dir``
    (the dashboards folder), ``default_url`` (the dashboards' landing page) and
    ``disable_user_config``. The authenticator, spawner class and proxy stay the service's choice.

    Args:
        c: The hub's configuration (``c`` in ``jupyterhub_config.py``).
        deployment: What the servers serve.
        python: The Python the single-user servers run (default: this one). It must have fitdata
            and JupyterHub installed.

    Raises:
        HubConfigError: See :meth:`HubDeployment.checked`.
    """
    checked = deployment.checked()
    c.Spawner.cmd = [str(python or sys.executable), "-m", "jupyterhub.singleuser"]
    c.Spawner.args = [f"--config={singleuser_config_file()}"]
    environment = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    environment.update(singleuser_environment(checked))
    c.Spawner.environment = environment
    c.Spawner.notebook_dir = str(checked.dashboards)
    c.Spawner.default_url = "/voila/tree"
    c.Spawner.disable_user_config = True


class DashboardsOnlyAuthorizer(JupyterHubAuthorizer):
    """JupyterHub's check that the user may use this server, then fitdata's allow-list.

    Jupyter Server asks the authorizer before each of its own API calls; everything but a
    kernel's WebSocket and status (:data:`ALLOWED_SERVER_ACTIONS`) is refused, so nobody can
    read or write files, start kernels or open terminals through the server, not even its owner.
    """

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """Whether ``user`` may do ``action`` on ``resource`` (see the class docstring)."""
        if (action, resource) not in ALLOWED_SERVER_ACTIONS:
            self.log.warning(
                "fitdata: refused %s on %s for %s (%s)",
                action,
                resource,
                getattr(user, "username", "?"),
                handler.request.path,
            )
            return False
        return bool(super().is_authorized(handler, user, action, resource))
