"""Cases for group supervision on a shared screen: choosing them and anonymising them.

In the KOR group exercise a supervisor shows a client's graph to a group. Nothing that could
identify the client may reach the page, so this module does the anonymisation **before**
anything reaches a widget:

* :func:`attention_cases` lists a team's client-episodes with the flags that make them worth
  discussing (the SQL flags of :func:`fitdata.analytics.flags.episode_flag_counts`, plus
  ``not_on_track`` from the expected-trajectory model). Its frame carries ids and stays in the
  kernel. :class:`Presentation` hands out anonymous labels ("A", "B", ... then "AA") and
  opaque keys (``case-1``, ``case-2``, ...) that are meaningful only inside one kernel; the
  widgets see those, never an episode or client id. A case keeps its label for the whole
  presentation. (Module ``cases``.)
* :func:`anonymise_case` turns one client-episode's sessions into an :class:`AnonymousCase`
  whose frame has only :data:`ANONYMOUS_COLUMNS`: session number, whole weeks since the first
  session, scores, the expected-trajectory lines and per-session flag columns. No id, date,
  name or free text survives; :func:`assert_anonymous` checks that at run time as well.
  (Module ``anonymous``.)
* :func:`case_token` and :func:`resolve` let the team case review (a separate page) hand a set
  of cases to this page without putting ids in the URL: per case, a truncated HMAC-SHA256 of
  its ids under a secret key kept **outside the database** (:func:`link_key`), keyed also by
  the day it was issued; a token made with another key, changed, or too old is refused.
  (Module ``links``.)
* A couple or family is one case: :func:`attention_cases` joins its participants' rows, and
  :func:`case_participants` anonymises each participant (and collateral raters' ORS about
  them) as an :class:`AnonymousParticipant`, named on the page by role and letter only.
  (Module ``episode``.)

The link hook for the case review::

    from fitdata.features.group_exercise import case_token, link_key
    token = case_token(
        [(episode_id, client_id, team_id), ...], key=link_key(context.db_path)
    )
    href = f"group_exercise.ipynb?cases={token}"   # relative to /voila/render/
"""

from fitdata.features.group_exercise.anonymous import (
    ANONYMOUS_COLUMNS,
    SESSION_FLAGS,
    AnonymousCase,
    anonymise_case,
    assert_anonymous,
    case_sessions,
    expected_lines,
)
from fitdata.features.group_exercise.cases import (
    ATTENTION_ORDER,
    JOINT_FORMATS,
    CaseRef,
    Presentation,
    attention_cases,
    case_label,
    latest_session_date,
    therapist_name,
    trajectory_model,
)
from fitdata.features.group_exercise.episode import (
    AnonymousParticipant,
    case_participants,
    collateral_sessions,
    member_role,
)
from fitdata.features.group_exercise.links import InvalidToken, case_token, link_key, resolve

__all__ = [
    "ANONYMOUS_COLUMNS",
    "ATTENTION_ORDER",
    "JOINT_FORMATS",
    "SESSION_FLAGS",
    "AnonymousCase",
    "AnonymousParticipant",
    "CaseRef",
    "InvalidToken",
    "Presentation",
    "anonymise_case",
    "assert_anonymous",
    "attention_cases",
    "case_label",
    "case_participants",
    "case_sessions",
    "case_token",
    "collateral_sessions",
    "expected_lines",
    "latest_session_date",
    "link_key",
    "member_role",
    "resolve",
    "therapist_name",
    "trajectory_model",
]
