"""Delivery: ``fitdata serve`` (Voila with safe settings), login, and JupyterHub.

Imports the layers below only for settings and login; the dashboards themselves run in
kernels that import :mod:`fitdata.ui`.
"""
