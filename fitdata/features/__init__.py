"""What each dashboard computes, without widgets: one module per dashboard.

Named like the notebook in ``dashboards/`` and the builder in :mod:`fitdata.ui` that show it
(``team_review``, ``group_exercise``, ``therapist_development``, ``service``,
``registration``), plus what several of them share (``expected_trajectory``).
"""
