-- fitdata store schema, version 7 (version 2 added session_changes, version 3 users,
-- version 4 audit_anchor, version 5 the identity-number CHECKs on codes and names, version 6
-- episode_participants, the form and entry columns at the end of sessions, and, for the
-- client's own page, client_form_uses and client_page_settings; version 7 case_discussions
-- and case_discussion_changes).
-- Documented for analysts in data/README.md. Constraints are CHECKs (cheap) rather than
-- foreign keys on `sessions`: a foreign key or primary key on a 10-million-row table builds
-- an index that triples the file and slows every write. Referential integrity and the
-- uniqueness of session keys are verified by `fitdata check` instead.

CREATE TABLE schema_version (
    version    INTEGER   NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- No code or name holds a national identity number, in any spelling: the expressions are
-- fitdata.identifiers.identity_number_sql(column) (a test compares them).
CREATE TABLE teams (
    team_id VARCHAR PRIMARY KEY,
    name    VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    CHECK (NOT regexp_matches(regexp_replace(translate(team_id, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)')),
    CHECK (NOT regexp_matches(regexp_replace(translate(name, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)')),
    CHECK (NOT regexp_matches(regexp_replace(translate(service, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)'))
);

CREATE TABLE therapists (
    therapist_id VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    team_id      VARCHAR NOT NULL,  -- current team; sessions and episodes carry the team at the time
    CHECK (NOT regexp_matches(regexp_replace(translate(therapist_id, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)')),
    CHECK (NOT regexp_matches(regexp_replace(translate(name, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)'))
);

CREATE TABLE clients (
    client_id  VARCHAR PRIMARY KEY,
    birth_year SMALLINT CHECK (birth_year BETWEEN 1900 AND 2100),
    age_group  VARCHAR NOT NULL CHECK (age_group IN ('child', 'adolescent', 'adult')),
    -- a pseudonymous code, never a Norwegian national identity number
    CHECK (NOT regexp_matches(regexp_replace(translate(client_id, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)'))
);

CREATE TABLE episodes (
    episode_id   VARCHAR PRIMARY KEY,
    client_id    VARCHAR NOT NULL,  -- for couple/family episodes: the index client
    therapist_id VARCHAR NOT NULL,
    team_id      VARCHAR NOT NULL,
    started      DATE    NOT NULL,
    ended        DATE,
    end_type     VARCHAR CHECK (end_type IN ('planned', 'unplanned', 'transferred')),
    format       VARCHAR NOT NULL DEFAULT 'individual'
                 CHECK (format IN ('individual', 'couple', 'family', 'group')),
    CHECK (ended IS NULL OR ended >= started),
    CHECK ((ended IS NULL) = (end_type IS NULL))
);

CREATE TABLE sessions (
    session_id        BIGINT   NOT NULL,
    episode_id        VARCHAR  NOT NULL,
    client_id         VARCHAR  NOT NULL,
    therapist_id      VARCHAR  NOT NULL,
    team_id           VARCHAR  NOT NULL,
    session_date      DATE     NOT NULL,
    session_no        SMALLINT NOT NULL CHECK (session_no >= 1),
    rater             VARCHAR  NOT NULL DEFAULT 'client'
                      CHECK (rater IN ('client', 'parent', 'teacher', 'partner', 'other')),
    ors_individual    DECIMAL(3, 1) CHECK (ors_individual    BETWEEN 0 AND 10),
    ors_interpersonal DECIMAL(3, 1) CHECK (ors_interpersonal BETWEEN 0 AND 10),
    ors_social        DECIMAL(3, 1) CHECK (ors_social        BETWEEN 0 AND 10),
    ors_overall       DECIMAL(3, 1) CHECK (ors_overall       BETWEEN 0 AND 10),
    ors_total         DECIMAL(4, 1) CHECK (ors_total         BETWEEN 0 AND 40),
    srs_relationship  DECIMAL(3, 1) CHECK (srs_relationship  BETWEEN 0 AND 10),
    srs_goals         DECIMAL(3, 1) CHECK (srs_goals         BETWEEN 0 AND 10),
    srs_approach      DECIMAL(3, 1) CHECK (srs_approach      BETWEEN 0 AND 10),
    srs_overall       DECIMAL(3, 1) CHECK (srs_overall       BETWEEN 0 AND 10),
    srs_total         DECIMAL(4, 1) CHECK (srs_total         BETWEEN 0 AND 40),
    -- items are recorded all four or none (paper practice records totals only) ...
    CHECK ((ors_individual IS NULL) = (ors_interpersonal IS NULL)
       AND (ors_individual IS NULL) = (ors_social IS NULL)
       AND (ors_individual IS NULL) = (ors_overall IS NULL)),
    CHECK ((srs_relationship IS NULL) = (srs_goals IS NULL)
       AND (srs_relationship IS NULL) = (srs_approach IS NULL)
       AND (srs_relationship IS NULL) = (srs_overall IS NULL)),
    -- ... and when items are given, the total is given and equals their sum (to rounding)
    CHECK (ors_individual IS NULL OR (ors_total IS NOT NULL AND
           abs(ors_total - (ors_individual + ors_interpersonal + ors_social + ors_overall)) <= 0.1)),
    CHECK (srs_relationship IS NULL OR (srs_total IS NOT NULL AND
           abs(srs_total - (srs_relationship + srs_goals + srs_approach + srs_overall)) <= 0.1)),
    -- Version 6, at the end (the migration rebuilds the table with them last). The form a
    -- score was given on; NULL where the total is NULL, and on rows from before version 6,
    -- which readers take as vocabulary.default_forms(age group, format): CORS/CSRS for a
    -- child (6-12), GSRS for a group, else ORS/SRS. Who typed the scores in (NULL: not
    -- recorded). fitdata check verifies "form NULL exactly when its total is NULL" for rows
    -- with entered_by.
    ors_form          VARCHAR  CHECK (ors_form IN ('ORS', 'CORS')),
    srs_form          VARCHAR  CHECK (srs_form IN ('SRS', 'CSRS', 'GSRS')),
    entered_by        VARCHAR  CHECK (entered_by IN ('therapist', 'client', 'import'))
);

-- Who takes part in an episode, and who rates whom (version 6). One row per (episode_id,
-- client_id, rater), verified by fitdata check (no primary-key index, as above). Every
-- session's (episode_id, client_id, rater) has its row; the index client (episodes.client_id)
-- has role 'index'. 'partner': the other adult of a couple; 'family_member': another client
-- of a family episode; 'member': another client of any other episode; 'collateral': a person
-- who is not a client (a parent, teacher, partner-as-rater, other) rating client_id. A
-- participant may have no sessions yet (a partner who joins later).
CREATE TABLE episode_participants (
    episode_id VARCHAR NOT NULL,
    client_id  VARCHAR NOT NULL,  -- the participant; for a collateral rater: the client rated
    role       VARCHAR NOT NULL
               CHECK (role IN ('index', 'partner', 'family_member', 'member', 'collateral')),
    rater      VARCHAR NOT NULL DEFAULT 'client'
               CHECK (rater IN ('client', 'parent', 'teacher', 'partner', 'other')),
    added_on   DATE,              -- when the participant joined (NULL: from the start / unknown)
    CHECK ((role = 'collateral') = (rater <> 'client'))
);

-- The change history of saved sessions (version 2). A correction or a later SRS keeps the
-- session row's values from before the change here, with who changed it, when and why; the row
-- in `sessions` holds the current values. Never updated or deleted by fitdata.
CREATE TABLE session_changes (
    change_id             BIGINT    NOT NULL,
    session_id            BIGINT    NOT NULL,
    episode_id            VARCHAR   NOT NULL,
    client_id             VARCHAR   NOT NULL,
    session_no            SMALLINT  NOT NULL,
    change_type           VARCHAR   NOT NULL CHECK (change_type IN ('correction', 'srs_added')),
    changed_at            TIMESTAMP NOT NULL,  -- UTC
    changed_by            VARCHAR   NOT NULL,  -- the therapist (later: the logged-in user)
    reason                VARCHAR,
    old_session_date      DATE      NOT NULL,
    old_ors_individual    DECIMAL(3, 1),
    old_ors_interpersonal DECIMAL(3, 1),
    old_ors_social        DECIMAL(3, 1),
    old_ors_overall       DECIMAL(3, 1),
    old_ors_total         DECIMAL(4, 1),
    old_srs_relationship  DECIMAL(3, 1),
    old_srs_goals         DECIMAL(3, 1),
    old_srs_approach      DECIMAL(3, 1),
    old_srs_overall       DECIMAL(3, 1),
    old_srs_total         DECIMAL(4, 1),
    -- a correction always says why
    CHECK (change_type <> 'correction' OR length(trim(coalesce(reason, ''))) > 0)
);

-- The people who may log in, and what they may see (version 3; fitdata/access.py, managed with
-- `fitdata users add|remove|list`). A therapist sees the episodes whose therapist_id is theirs,
-- a supervisor the episodes of their teams, a leader suppressed aggregates only, an admin all.
-- token_sha256 is the SHA-256 of the user's login token for a shared server (never the token).
CREATE TABLE users (
    user_name    VARCHAR   PRIMARY KEY,  -- the login name (JupyterHub user, or token login)
    role         VARCHAR   NOT NULL
                 CHECK (role IN ('therapist', 'supervisor', 'leader', 'admin')),
    therapist_id VARCHAR,                -- therapists only
    team_ids     VARCHAR[] NOT NULL DEFAULT [],  -- supervisors only: the teams they supervise
    token_sha256 VARCHAR,
    created_at   TIMESTAMP NOT NULL,     -- UTC
    created_by   VARCHAR   NOT NULL,     -- the operating-system user who ran `fitdata users add`
    CHECK ((role = 'therapist') = (therapist_id IS NOT NULL)),
    CHECK ((role = 'supervisor') = (len(team_ids) > 0))
);

-- The audit log's anchor (version 4; fitdata/data/audit_chain.py). Every database write records
-- how many entries the audit log beside the database held and the MAC of the last one, with a
-- MAC of its own under the log's key (one row per key: a copy of the file on another machine,
-- with a log and key of its own, anchors there under its own row). `fitdata audit --verify`
-- compares the log with it, so entries written before the last database write cannot be
-- removed unnoticed, even together with the log's side anchor file. Never read by a scoped
-- reader.
CREATE TABLE audit_anchor (
    key_id      VARCHAR   PRIMARY KEY,  -- names the key (a MAC of a constant), never the key
    entries     BIGINT    NOT NULL CHECK (entries >= 0),
    last_mac    VARCHAR   NOT NULL,     -- the MAC of entry number `entries` ('' for none)
    mac         VARCHAR   NOT NULL,     -- HMAC-SHA256 of entries and last_mac under the key
    anchored_at TIMESTAMP NOT NULL      -- UTC
);

-- The client's own page (version 6, issue 21). A client link's form is used once: the row is
-- inserted in the same transaction as the session it wrote; fitdata check verifies that
-- (link_id, form) is unique. No scoped reader has a view of it.
CREATE TABLE client_form_uses (
    link_id    VARCHAR   NOT NULL,
    form       VARCHAR   NOT NULL CHECK (form IN ('ors', 'srs')),
    session_id BIGINT    NOT NULL,
    used_at    TIMESTAMP NOT NULL   -- UTC
);

-- Whether the client's own page shows the client's graph (version 6, issue 21); set by the
-- therapist. No row: shown. Row-scoped readers see the rows of their clients.
CREATE TABLE client_page_settings (
    client_id  VARCHAR   PRIMARY KEY,
    show_graph BOOLEAN   NOT NULL DEFAULT TRUE,
    set_by     VARCHAR   NOT NULL,
    set_at     TIMESTAMP NOT NULL   -- UTC
);

-- What supervision decided about a case (version 7, issue 22; fitdata/features/
-- case_discussions.py). One row per discussion of an episode (a couple or family is one
-- episode); discussion_id is unique (fitdata check). flags_then are the flags current when the
-- case was discussed, stored, never recomputed. agreed holds action codes of the service's
-- configured list (fitdata.config.DISCUSSION_ACTIONS). The note never holds a national
-- identity number (the same CHECK as the codes and names); names are refused when it is
-- written. A correction or withdrawal keeps the old values in case_discussion_changes.
CREATE TABLE case_discussions (
    discussion_id BIGINT    NOT NULL,
    episode_id    VARCHAR   NOT NULL,  -- the case: a couple or family is one episode
    team_id       VARCHAR   NOT NULL,  -- the episode's team when discussed
    therapist_id  VARCHAR   NOT NULL,  -- the episode's therapist when discussed
    discussed_on  DATE      NOT NULL,
    forum         VARCHAR   NOT NULL
                  CHECK (forum IN ('team_meeting', 'group_supervision', 'individual_supervision', 'with_client')),
    flags_then    STRUCT(client_id VARCHAR, flag VARCHAR, session_no SMALLINT)[] NOT NULL,
    agreed        VARCHAR[] NOT NULL CHECK (len(agreed) >= 1),
    note          VARCHAR   CHECK (length(note) <= 280),
    follow_up_on  DATE,
    source        VARCHAR   NOT NULL
                  CHECK (source IN ('team_review', 'group_exercise', 'client_graph', 'demo', 'import')),
    recorded_by   VARCHAR   NOT NULL,  -- the logged-in user (or the operating-system user)
    recorded_at   TIMESTAMP NOT NULL,  -- UTC
    CHECK (follow_up_on IS NULL OR follow_up_on >= discussed_on),
    CHECK (NOT regexp_matches(regexp_replace(translate(note, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)'))
);

-- Corrections and withdrawals of case discussions (version 7): the values before the change,
-- who changed them, when and why. Never updated or deleted by fitdata.
CREATE TABLE case_discussion_changes (
    change_id        BIGINT    NOT NULL,
    discussion_id    BIGINT    NOT NULL,
    episode_id       VARCHAR   NOT NULL,
    changed_at       TIMESTAMP NOT NULL,  -- UTC
    changed_by       VARCHAR   NOT NULL,
    reason           VARCHAR   NOT NULL CHECK (length(trim(reason)) > 0),
    change_type      VARCHAR   NOT NULL CHECK (change_type IN ('correction', 'withdrawn')),
    old_discussed_on DATE,
    old_forum        VARCHAR,
    old_agreed       VARCHAR[],
    old_note         VARCHAR,
    old_follow_up_on DATE,
    CHECK (NOT regexp_matches(regexp_replace(translate(old_note, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)')),
    CHECK (NOT regexp_matches(regexp_replace(translate(reason, '０１２３４５６７８９', '0123456789'), '[\s\pZ\p{Cf}\p{Pd}./．／−]+', '', 'g'), '\p{Nd}{11}|(^|\P{Nd})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(\P{Nd}|$)'))
);
