"""Jupyter Server configuration of a fitdata single-user server under JupyterHub.

``fitdata.server.hub.configure_spawner`` starts every single-user server with ``--config=<this
file>``; the settings themselves are in :func:`fitdata.server.hub.singleuser_server_config`.
"""

from fitdata.server.hub import singleuser_server_config

c = get_config()  # noqa: F821 - provided by traitlets when it loads a config file
c.merge(singleuser_server_config())
