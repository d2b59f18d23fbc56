"""Jobs a writer runs after it replaced the database, so that no dashboard kernel waits.

:func:`warm` fills the cache folder beside the database (:mod:`fitdata.data.cache`) with what
the dashboards' first kernel would otherwise compute. It sits above every dashboard's logic
because it calls each of them; nothing in the package imports it but the command line.
"""

from __future__ import annotations

import os
from typing import Any

from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features import service, therapist_development
from fitdata.features.expected_trajectory import trajectory_model
from fitdata.features.service.couples import stored_couple_facts

__all__ = ["warm"]


def warm(database: str | os.PathLike[str], *, config: Any = None) -> list[str]:
    """Compute and store what the dashboards' first kernel would otherwise compute.

    ``fitdata import`` and ``fitdata demo`` call it after they replaced the database: the
    expected-trajectory model with its default parameters (about 7 s at ten million sessions;
    an older version's fit is used again under the refit rule of
    :mod:`fitdata.features.expected_trajectory`), the therapist development comparison of every
    service (about 14 s per service there) and the service page's facts (brought forward team
    by team from the older version's when the write can be attributed to teams, see
    :mod:`fitdata.features.service.changes`) and the couples' outcomes (one query).
    Afterwards a new dashboard kernel reads them from the cache folder in milliseconds.

    Args:
        database: The database file.
        config: The :class:`fitdata.config.ClinicalConfig` the dashboards use (the comparison
            is stored per configuration); the default thresholds when None.

    Returns:
        What was stored, one line each, for the writer's log.

    Raises:
        StoreError: If the database is missing or unreadable.
    """
    reader = reader_for(database)
    done = []
    model = trajectory_model(reader)
    done.append(f"expected trajectories ({model.n_training_episodes} closed client-episodes)")
    services = reader.df("SELECT DISTINCT service FROM teams ORDER BY service")["service"]
    for name in services:
        therapist_development.service_comparison(reader, str(name), config=config or DEFAULT_CONFIG)
        done.append(f"therapist development comparison of {name}")
    done += service.warm_facts(reader, config=config or DEFAULT_CONFIG)
    couples = stored_couple_facts(reader, config or DEFAULT_CONFIG)
    done.append(f"couple outcomes ({len(couples)} closed couple episodes)")
    return done
