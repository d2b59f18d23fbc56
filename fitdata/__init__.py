"""fitdata: local-first dashboards over ORS/SRS feedback scores (FIT / KOR) in DuckDB.

The package is layered so data flow one way: ``store`` (the only module that opens DuckDB),
``queries`` (read-side SQL), pure analytics (``config``, ``client_status``, ``change``), and
``ui`` (ipywidgets and plotly builders that the notebooks in ``dashboards/`` display).
"""

__version__ = "0.1.0"
