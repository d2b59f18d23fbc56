"""fitdata.server.hub: the JupyterHub spawner settings and the dashboards-only server."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import Config, PyFileConfigLoader

from fitdata.server.hub import (
    ALLOWED_KERNEL_MESSAGES,
    DashboardsOnlyAuthorizer,
    HubConfigError,
    HubDeployment,
    configure_spawner,
    singleuser_config_file,
    singleuser_environment,
    singleuser_server_config,
)
from fitdata.server.serve import IOPUB_TIMEOUT_S, SECURITY_HEADERS, default_dashboards_dir


@pytest.fixture
def deployment(tmp_path: Path) -> HubDeployment:
    db = tmp_path / "service.duckdb"
    db.write_bytes(b"")  # only its existence is checked here
    return HubDeployment(db=db, dashboards=default_dashboards_dir(), lang="nb")


def test_the_spawner_starts_a_single_user_server_with_fitdatas_config(deployment) -> None:
    c = Config()
    c.Spawner.environment = {"TZ": "Europe/Oslo"}  # the service's own settings are kept
    configure_spawner(c, deployment, python="/srv/venv/bin/python")
    assert c.Spawner.cmd == ["/srv/venv/bin/python", "-m", "jupyterhub.singleuser"]
    assert c.Spawner.args == [f"--config={singleuser_config_file()}"]
    assert c.Spawner.notebook_dir == str(default_dashboards_dir())
    assert c.Spawner.default_url == "/voila/tree"
    assert c.Spawner.disable_user_config is True
    environment = c.Spawner.environment
    assert environment["TZ"] == "Europe/Oslo"
    assert environment["FITDATA_DB"] == str(Path(deployment.db).resolve())
    assert environment["FITDATA_LANG"] == "nb"
    assert "FITDATA_CONFIG" not in environment


def test_the_environment_puts_fitdatas_voila_template_first(deployment, tmp_path) -> None:
    config = tmp_path / "clinical.toml"
    config.write_text("")
    with_config = HubDeployment(deployment.db, deployment.dashboards, "en", config)
    environment = singleuser_environment(with_config, base={"JUPYTER_PATH": "/opt/jupyter"})
    first, rest = environment["JUPYTER_PATH"].split(os.pathsep)
    assert (Path(first) / "voila" / "templates" / "fitdata" / "index.html.j2").is_file()
    assert rest == "/opt/jupyter"
    assert environment["FITDATA_CONFIG"] == str(config.resolve())
    assert environment["FITDATA_LANG"] == "en"


def test_the_config_file_loads_the_dashboards_only_settings() -> None:
    path = singleuser_config_file()
    loaded = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    assert loaded == singleuser_server_config()
    server = loaded.ServerApp
    assert server.authorizer_class is DashboardsOnlyAuthorizer
    assert server.terminals_enabled is False
    assert server.jpserver_extensions["voila"] is True
    assert server.jpserver_extensions["jupyter_server_terminals"] is False
    assert server.tornado_settings["headers"] == SECURITY_HEADERS
    allowed = loaded.MappingKernelManager.allowed_message_types
    assert "execute_request" not in allowed and "comm_msg" in allowed
    assert allowed == list(ALLOWED_KERNEL_MESSAGES)
    voila = loaded.VoilaConfiguration
    assert voila.template == "fitdata"
    assert voila.show_tracebacks is False
    assert voila.file_allowlist == []
    assert loaded.MappingKernelManager.cull_idle_timeout > 0
    assert loaded.VoilaExecutor.iopub_timeout == IOPUB_TIMEOUT_S  # as `fitdata serve`
    settings = loaded.ServerApp.tornado_settings
    assert settings["mathjax_url"] is None and settings["mathjax_config"] is None  # no CDN


def test_the_landing_page_hook_lists_the_dashboards_in_the_servers_language(monkeypatch):
    monkeypatch.setenv("FITDATA_LANG", "nb")
    hook = singleuser_server_config().VoilaConfiguration.page_config_hook
    page_config = hook({})
    assert page_config["fitdata"]["known"][0] == "client_graph.ipynb"
    assert page_config["fitdata"]["dashboards"][0]["title"] == "Klientgraf"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"db": "missing.duckdb"}, "does not exist. Create it with `fitdata import`"),
        ({"dashboards": "nowhere"}, "is not a folder of dashboard notebooks"),
        ({"lang": "sv"}, "Unknown language 'sv'"),
        ({"config": "missing.toml"}, "The clinical configuration file"),
    ],
)
def test_a_deployment_that_cannot_work_is_refused_with_what_to_do(
    deployment, tmp_path, monkeypatch, change, message
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = {
        "db": deployment.db,
        "dashboards": deployment.dashboards,
        "lang": deployment.lang,
        **change,
    }
    with pytest.raises(HubConfigError, match=message.replace("(", r"\(")):
        configure_spawner(Config(), HubDeployment(**settings))


def test_a_database_inside_the_dashboards_folder_is_refused(tmp_path) -> None:
    (tmp_path / "client_graph.ipynb").write_text("{}")
    (tmp_path / "service.duckdb").write_bytes(b"")
    with pytest.raises(HubConfigError, match="lies inside the dashboards folder"):
        singleuser_environment(HubDeployment(tmp_path / "service.duckdb", tmp_path))


class _HubAuth:
    """Stands in for JupyterHub's HubAuth: kari holds the scope to use this server."""

    oauth_scopes = {"access:servers!user=kari"}

    def check_scopes(self, scopes, hub_user):
        return set(scopes) if hub_user["name"] == "kari" else set()


class _Authorizer(DashboardsOnlyAuthorizer):
    hub_auth = _HubAuth()


def _user(name: str) -> SimpleNamespace:
    return SimpleNamespace(username=name, hub_user={"name": name})


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("read", "contents"),
        ("write", "contents"),
        ("write", "kernels"),
        ("read", "sessions"),
        ("write", "sessions"),
        ("execute", "terminals"),
        ("read", "kernelspecs"),
        ("write", "config"),
        ("read", "nbconvert"),
        ("execute", "server"),
    ],
)
def test_the_owner_gets_nothing_of_jupyter_servers_api(action, resource) -> None:
    handler = SimpleNamespace(request=SimpleNamespace(path=f"/user/kari/api/{resource}"))
    assert _Authorizer().is_authorized(handler, _user("kari"), action, resource) is False


def test_the_owner_may_use_a_dashboards_kernel_socket_and_nobody_else_may() -> None:
    handler = SimpleNamespace(request=SimpleNamespace(path="/user/kari/api/kernels/x/channels"))
    authorizer = _Authorizer()
    assert authorizer.is_authorized(handler, _user("kari"), "execute", "kernels") is True
    assert authorizer.is_authorized(handler, _user("kari"), "read", "kernels") is True
    assert authorizer.is_authorized(handler, _user("leder"), "execute", "kernels") is False
