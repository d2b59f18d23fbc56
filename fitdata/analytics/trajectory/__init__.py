"""Expected treatment response (ETR): trajectories computed from the service's own episodes.

Commercial ETR curves rest on proprietary tables, so fitdata computes its own from the
organisation's **closed** episodes with a method that can be explained on one page, shows how
many episodes every point rests on, and says so when they are too few.

Method (:func:`fit_trajectories`):

1. **Training data.** Closed episodes (``episodes.ended IS NOT NULL``), the client's own ratings
   (``sessions.rater = 'client'``), ORS totals. The unit is a *client-episode*: a couple or
   family episode contributes one trajectory per participant (each rates under their own
   ``client_id``); "episodes" in counts means client-episodes. The intake is the ORS at
   session 1; a client-episode whose session 1 has no ORS is skipped. Should a session be
   recorded twice (``fitdata check`` reports that), the two scores are averaged.
2. **Intake bands.** The intake is binned into bands of ``band_width`` points (default 4:
   0-4, 4-8, ..., 36-40; a band includes its lower bound, the last band includes 40).
   Adults, adolescents and children are **pooled** but conditioned on intake, which places a
   CORS score where it belongs on the common 0-40 scale. ``age_group`` restricts the training
   data to one group instead (fit one model per group to stratify).
3. **Empirical quantiles per cell**, in DuckDB (``quantile_cont`` with ``GROUP BY``): for
   each (intake band, session 2..``max_session``) the median and the ``lower_percentile``
   (default the 25th) of the *change from intake* (ORS at the session minus the client's own
   intake), and ``n_episodes``. Working with change rather than the raw level means that a
   client at the bottom of a band is not compared with the band's middle; the prediction is
   the client's own intake plus the cell's change. The 25th percentile is the default lower
   boundary: a quarter of the service's own clients with that intake were below it at that
   session, which is a visible but not alarmist signal (OpenFIT's "red" line plays the same
   role); make it stricter with ``lower_percentile=0.10``.
4. **Smoothing** on the small grid (NumPy): every cell's median and lower change are replaced
   by a locally weighted linear fit over its neighbours, sessions within +-2 and intake bands
   within +-1, with triangular kernel weights times the neighbour's ``n_episodes`` (a
   quantile's variance is proportional to 1/n). The fit is linear in log(session), the usual
   log-linear dose-response shape of psychotherapy change, and in the band's midpoint (which
   absorbs regression to the mean), so a linear trend is not flattened at the grid's edges. No
   monotonicity is imposed: clients with a high intake may on average decline.
5. **Sufficiency.** A cell whose own ``n_episodes`` is below ``min_episodes`` (default 30) has
   no value: predictions there are ``sufficient = False`` with the reason
   ``"too few episodes: n < 30"``, and the dashboards fall back to the reliable-change band.
6. **Session cap.** Sessions after ``max_session`` (default 12) use session ``max_session``'s
   values; sessions after it are not used for training (they are a selected group: the
   clients still in treatment). Session 1 is the intake itself: expected and lower are the
   intake, and ``n_episodes`` counts the band's intakes.

Why not quantile regression on intake and log(session)? It would need an extra dependency
(statsmodels), hide how many episodes stand behind a given point, and impose one functional
form on every intake. Per-cell quantiles need only SQL, can be shown as "based on N
episodes", and reveal where the data are thin. To swap the method, produce another object with
the same :meth:`TrajectoryModel.predict` / :meth:`TrajectoryModel.predict_many` interface
(columns ``session_no, expected, lower, n_episodes, sufficient, reason``); the dashboards and
:func:`calibrate` use nothing else.

:func:`calibrate` checks the method on the service's own data: it fits on a deterministic
share of closed episodes and counts how often held-out clients' ORS falls below the lower line
(it should be close to ``lower_percentile``) and below the expected line (close to 0.5).
"""

from fitdata.analytics.trajectory.calibration import CalibrationReport, calibrate
from fitdata.analytics.trajectory.fit import fit_trajectories
from fitdata.analytics.trajectory.model import ORS_MAX, PREDICTION_COLUMNS, TrajectoryModel

__all__ = [
    "ORS_MAX",
    "PREDICTION_COLUMNS",
    "CalibrationReport",
    "TrajectoryModel",
    "calibrate",
    "fit_trajectories",
]
