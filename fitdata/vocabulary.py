"""The words of the data: form items, score columns, age groups, formats, raters, roles, endings.

One home for every name the schema, the importer, the analytics and the pages share. The
values must match the CHECK constraints in ``fitdata/data/schema.sql`` (a unit test compares
them); thresholds are not here but in :mod:`fitdata.config`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AGE_GROUPS",
    "AGE_RANGES",
    "DISCUSSION_CHANGE_TYPES",
    "DISCUSSION_SOURCES",
    "END_TYPES",
    "ENTERED_BY",
    "FORMATS",
    "FORMS",
    "FORUMS",
    "MAX_PLAUSIBLE_AGE",
    "ORS_COLUMNS",
    "ORS_FORMS",
    "ORS_ITEMS",
    "PARTICIPANT_ROLES",
    "RATERS",
    "ROLES",
    "SCORE_COLUMNS",
    "SRS_COLUMNS",
    "SRS_FORMS",
    "SRS_ITEMS",
    "AgeGroup",
    "default_form_sql",
    "default_forms",
    "participant_role",
]

#: The four ORS items (columns ``ors_*``, each 0-10 in 0.1 steps), in form order.
ORS_ITEMS: tuple[str, ...] = ("ors_individual", "ors_interpersonal", "ors_social", "ors_overall")
#: The four SRS items (columns ``srs_*``), in form order.
SRS_ITEMS: tuple[str, ...] = ("srs_relationship", "srs_goals", "srs_approach", "srs_overall")
#: Each form's items by the form's short name.
FORMS: dict[str, tuple[str, ...]] = {"ors": ORS_ITEMS, "srs": SRS_ITEMS}
#: The ORS columns of a session row: the items, then the total (0-40).
ORS_COLUMNS: tuple[str, ...] = (*ORS_ITEMS, "ors_total")
#: The SRS columns of a session row: the items, then the total (0-40).
SRS_COLUMNS: tuple[str, ...] = (*SRS_ITEMS, "srs_total")
#: Every score column of a session row, in the canonical file's order.
SCORE_COLUMNS: tuple[str, ...] = ORS_COLUMNS + SRS_COLUMNS

AgeGroup = Literal["child", "adolescent", "adult"]
#: The age groups, youngest first (ORS/SRS for adults, CORS/CSRS for children; shared/domain.md).
AGE_GROUPS: tuple[AgeGroup, ...] = ("child", "adolescent", "adult")
#: Ages of each age group in whole years, inclusive; adults have no upper bound (None). Under 6
#: the YCORS is used, which is not scored.
AGE_RANGES: dict[str, tuple[int, int | None]] = {
    "child": (6, 12),
    "adolescent": (13, 17),
    "adult": (18, None),
}
#: An age above this is taken as a typing error, not a client (importer and registration).
MAX_PLAUSIBLE_AGE = 120

#: How the client-episode is delivered (``episodes.format``).
FORMATS: tuple[str, ...] = ("individual", "couple", "family", "group")
#: Who rated a session (``sessions.rater``).
RATERS: tuple[str, ...] = ("client", "parent", "teacher", "partner", "other")
#: How an episode ended (``episodes.end_type``).
END_TYPES: tuple[str, ...] = ("planned", "unplanned", "transferred")

#: A participant's role in an episode (``episode_participants.role``): the index client
#: (``episodes.client_id``), the other adult of a couple, another client of a family episode,
#: another client of any other episode, and a collateral rater (not a client: a parent,
#: teacher, partner-as-rater or other person rating ``client_id``).
ROLES: tuple[str, ...] = ("index", "partner", "family_member", "member", "collateral")
#: The roles of clients (every role but ``collateral``), who rate themselves (rater 'client').
PARTICIPANT_ROLES: tuple[str, ...] = ROLES[:4]

#: The outcome forms (``sessions.ors_form``): the ORS, and the CORS for children 6-12 (the
#: same four items and scale in a child's wording; the child cutoff applies).
ORS_FORMS: tuple[str, ...] = ("ORS", "CORS")
#: The alliance forms (``sessions.srs_form``): the SRS, the CSRS for children 6-12 and the
#: group SRS (GSRS) for group sessions; four items 0-10 each on all three.
SRS_FORMS: tuple[str, ...] = ("SRS", "CSRS", "GSRS")
#: Who typed a session's scores in (``sessions.entered_by``); NULL on rows from before v6.
ENTERED_BY: tuple[str, ...] = ("therapist", "client", "import")


#: Where a case was discussed (``case_discussions.forum``, issue 22): the team's meeting,
#: group supervision (the KOR group exercise), individual supervision, and with the client.
#: Labels: locale keys ``forum.<code>``.
FORUMS: tuple[str, ...] = (
    "team_meeting",
    "group_supervision",
    "individual_supervision",
    "with_client",
)
#: Which page recorded a discussion (``case_discussions.source``): the team review, the group
#: exercise (after the reveal), the client graph, the demo's history, an import.
DISCUSSION_SOURCES: tuple[str, ...] = (
    "team_review",
    "group_exercise",
    "client_graph",
    "demo",
    "import",
)
#: What a change of a recorded discussion is (``case_discussion_changes.change_type``).
DISCUSSION_CHANGE_TYPES: tuple[str, ...] = ("correction", "withdrawn")


def default_forms(age_group: str, format: str) -> tuple[str, str]:
    """The (outcome, alliance) forms a session of this client and episode format is given on.

    ``("CORS", "CSRS")`` for a child (6-12) in any format, else ``("ORS", "GSRS")`` in a group,
    else ``("ORS", "SRS")``. Readers take it where a row's form is NULL (rows from before
    schema version 6); :func:`default_form_sql` is the same rule in SQL.
    """
    if age_group == "child":
        return ("CORS", "CSRS")
    if format == "group":
        return ("ORS", "GSRS")
    return ("ORS", "SRS")


def default_form_sql(form: Literal["ors", "srs"], age_group: str, format: str) -> str:
    """:func:`default_forms` as a SQL expression over two column expressions.

    Args:
        form: ``"ors"`` for the outcome form, ``"srs"`` for the alliance form.
        age_group: SQL for the client's age group (e.g. ``c.age_group``).
        format: SQL for the episode's format (e.g. ``e.format``).
    """
    if form == "ors":
        return f"CASE WHEN {age_group} = 'child' THEN 'CORS' ELSE 'ORS' END"
    return (
        f"CASE WHEN {age_group} = 'child' THEN 'CSRS' "
        f"WHEN {format} = 'group' THEN 'GSRS' ELSE 'SRS' END"
    )


def participant_role(format: str, rater: str) -> str:
    """The role of a participant who is not the index client, by episode format and rater.

    A rater other than ``client`` is ``collateral``; a client is a ``partner`` in a couple
    episode, a ``family_member`` in a family episode, else a ``member``.
    """
    if rater != "client":
        return "collateral"
    return {"couple": "partner", "family": "family_member"}.get(format, "member")
