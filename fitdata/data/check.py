"""What ``fitdata check`` verifies in a database file: counts and the rules across tables.

Row-level ranges and the consistency of items and totals are CHECK constraints in
``schema.sql``; the rules here are the ones across tables that the schema leaves out (a foreign
key on ten million sessions would triple the file), and the uniqueness of session keys. Each
rule is one SQL count of violating rows, so a new rule is one line in :data:`INTEGRITY_RULES`.
:func:`fitdata.data.store.check_database` runs them on a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitdata.data.participants import PARTICIPANT_KEY
from fitdata.data.schema import TABLES

__all__ = ["INTEGRITY_RULES", "SESSION_KEY", "WARNING_RULES", "CheckReport", "check_reader"]

#: Natural key of a session row: importing the same data twice must add nothing.
SESSION_KEY = ("episode_id", "client_id", "rater", "session_no")


@dataclass
class CheckReport:
    """What ``fitdata check`` found in a database file."""

    path: Path
    schema_version: int
    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found (warnings are worth a look but not problems)."""
        return not self.problems


# Each integrity rule: (description, SQL that counts violating rows). Row-level ranges and
# item/total consistency are CHECK constraints in the schema; these are the cross-table rules.
INTEGRITY_RULES: tuple[tuple[str, str], ...] = (
    (
        "sessions whose episode is not in episodes",
        "SELECT count(*) FROM sessions s ANTI JOIN episodes e USING (episode_id)",
    ),
    (
        "sessions whose client is not in clients",
        "SELECT count(*) FROM sessions s ANTI JOIN clients c USING (client_id)",
    ),
    (
        "sessions whose therapist is not in therapists",
        "SELECT count(*) FROM sessions s ANTI JOIN therapists t USING (therapist_id)",
    ),
    (
        "sessions whose team is not in teams",
        "SELECT count(*) FROM sessions s ANTI JOIN teams t USING (team_id)",
    ),
    (
        "episodes whose client is not in clients",
        "SELECT count(*) FROM episodes e ANTI JOIN clients c USING (client_id)",
    ),
    (
        "episodes whose therapist or team is unknown",
        "SELECT count(*) FROM episodes e"
        " WHERE therapist_id NOT IN (SELECT therapist_id FROM therapists)"
        " OR team_id NOT IN (SELECT team_id FROM teams)",
    ),
    (
        # Team-level queries (e.g. flags) filter on sessions.team_id: an episode belongs to one
        # team, and a move to another team is a new episode.
        "sessions whose team differs from their episode's team",
        "SELECT count(*) FROM sessions s JOIN episodes e USING (episode_id)"
        " WHERE s.team_id <> e.team_id",
    ),
    (
        "therapists whose team is not in teams",
        "SELECT count(*) FROM therapists t ANTI JOIN teams USING (team_id)",
    ),
    (
        "duplicate sessions (same episode, client, rater and session number)",
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM sessions "
        f"GROUP BY {', '.join(SESSION_KEY)} HAVING count(*) > 1)",
    ),
    (
        "duplicate session ids",
        "SELECT count(*) - count(DISTINCT session_id) FROM sessions",
    ),
    (
        "sessions dated before their episode started or after it ended",
        "SELECT count(*) FROM sessions s JOIN episodes e USING (episode_id) "
        "WHERE s.session_date < e.started OR s.session_date > e.ended",
    ),
    # Version 6: who takes part in an episode (schema.sql, episode_participants).
    (
        "sessions whose client and rater are not among their episode's participants",
        "SELECT count(*) FROM sessions s ANTI JOIN episode_participants p "
        "USING (episode_id, client_id, rater)",
    ),
    (
        "episodes without exactly one index participant, the episode's client",
        "SELECT count(*) FROM episodes e LEFT JOIN (SELECT episode_id, count(*) AS n, "
        "min(client_id) AS client_id FROM episode_participants WHERE role = 'index' "
        "GROUP BY episode_id) p USING (episode_id) "
        "WHERE coalesce(p.n, 0) <> 1 OR p.client_id <> e.client_id",
    ),
    (
        "duplicate participants (same episode, client and rater)",
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM episode_participants "
        f"GROUP BY {', '.join(PARTICIPANT_KEY)} HAVING count(*) > 1)",
    ),
    (
        "participants whose episode is not in episodes",
        "SELECT count(*) FROM episode_participants p ANTI JOIN episodes e USING (episode_id)",
    ),
    (
        "participants whose client is not in clients",
        "SELECT count(*) FROM episode_participants p ANTI JOIN clients c USING (client_id)",
    ),
    (
        "sessions entered since version 6 whose form is given without its total or not given "
        "with it",
        "SELECT count(*) FROM sessions WHERE entered_by IS NOT NULL AND "
        "((ors_form IS NULL) <> (ors_total IS NULL) OR (srs_form IS NULL) <> (srs_total IS NULL))",
    ),
    (
        "client links whose form was used more than once (same link and form)",
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM client_form_uses "
        "GROUP BY link_id, form HAVING count(*) > 1)",
    ),
    # Version 7: case discussions (schema.sql, case_discussions, issue 22).
    (
        "duplicate case discussion ids",
        "SELECT count(*) - count(DISTINCT discussion_id) FROM case_discussions",
    ),
    (
        "case discussions whose episode is not in episodes",
        "SELECT count(*) FROM case_discussions d ANTI JOIN episodes e USING (episode_id)",
    ),
    (
        "case discussions with no agreed action or an empty one",
        "SELECT count(*) FROM case_discussions "
        "WHERE len(agreed) = 0 "
        "OR len(list_filter(agreed, lambda a: coalesce(trim(a), '') = '')) > 0",
    ),
    (
        "case discussion changes that refer to no discussion, or to another episode",
        "SELECT count(*) FROM case_discussion_changes c LEFT JOIN case_discussions d "
        "USING (discussion_id) WHERE d.discussion_id IS NULL OR d.episode_id <> c.episode_id",
    ),
    (
        "case discussions withdrawn more than once",
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM case_discussion_changes "
        "WHERE change_type = 'withdrawn' GROUP BY discussion_id HAVING count(*) > 1)",
    ),
)

# Each warning rule: (description, SQL that counts rows worth a look). Not errors: the data
# may be right (a 13-year-old given the CORS), but the cutoff applied follows the age group.
WARNING_RULES: tuple[tuple[str, str], ...] = (
    (
        "sessions on a children's form (CORS or CSRS) for a client not in the age group child "
        "(the cutoff applied is the client's age group's)",
        "SELECT count(*) FROM sessions s JOIN clients c USING (client_id) "
        "WHERE c.age_group <> 'child' AND (s.ors_form = 'CORS' OR s.srs_form = 'CSRS')",
    ),
)


def check_reader(reader: Any, path: Path) -> CheckReport:
    """Verify the file a reader reads: schema version, cross-table integrity, row counts.

    Args:
        reader: An unrestricted :class:`fitdata.data.store.Reader` of the file.
        path: The file, for the report.

    Raises:
        StoreError: If the file is missing, not a fitdata database, or of another version.
    """
    version = int(reader.rows("SELECT max(version) FROM schema_version")[0][0])
    counts = {t: int(reader.rows(f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES}
    report = CheckReport(Path(path), version, counts)
    for description, sql in INTEGRITY_RULES:
        bad = int(reader.rows(sql)[0][0])
        if bad:
            report.problems.append(f"{bad} {description}")
    for description, sql in WARNING_RULES:
        found = int(reader.rows(sql)[0][0])
        if found:
            report.warnings.append(f"{found} {description}")
    return report
