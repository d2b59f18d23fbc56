"""The ``fitdata`` command line: one subcommand for every job a person runs.

Over 600 lines on purpose: it is the command line's documentation as much as its code. The
first half is the commands, each a short function that checks its arguments, calls one function
of the package and prints what happened (the work is in the layers below); the second half is
:func:`build_parser`, which holds every ``--help`` text a person reads (about 270 lines). A
third module for either half would be a new entry module (``ENTRY`` in
``tests/unit/test_layers.py``); worth it if the parser grows much further.

Errors are printed as one line that says what was wrong and what to do, never a traceback,
and the command exits with status 2; so are files the system refuses to write (a full disk).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fitdata.config import ConfigError, load_config
from fitdata.data.files import is_space_error
from fitdata.data.store import StoreError
from fitdata.i18n import LANGUAGES, Translator
from fitdata.vocabulary import FORMATS

__all__ = ["main"]

DEFAULT_DB = Path("data/demo.duckdb")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _pool_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 8:
        raise argparse.ArgumentTypeError(
            f"a pool holds 0 to 8 kernels per dashboard (each needs memory), got {value}"
        )
    return value


def _cmd_demo(args: argparse.Namespace) -> int:
    from fitdata.demo import generate_demo

    summary = generate_demo(args.out, sessions=args.sessions, seed=args.seed)
    print(
        f"Wrote {args.out}: {summary.sessions:,} sessions, {summary.episodes:,} episodes, "
        f"{summary.clients:,} clients, {summary.therapists} therapists, {summary.teams} teams, "
        f"{summary.discussions:,} case discussions in {summary.seconds:.1f} s."
    )
    _prepare_dashboards(args.out)
    return 0


def _prepare_dashboards(db: Path) -> None:
    """Compute what a new dashboard page would otherwise compute first (fitdata.data.cache)."""
    from fitdata.jobs import warm

    try:
        for line in warm(db):
            print(f"Prepared for the dashboards: {line}")
    except StoreError as error:  # the data are written; only the first page will be slower
        print(f"fitdata: warning: could not prepare the dashboards: {error}", file=sys.stderr)


def _cmd_check(args: argparse.Namespace) -> int:
    from fitdata.data.store import check_database, migrate_database

    if not args.db.exists():
        raise StoreError(f"There is no database at {args.db}. Create one with `fitdata demo`.")
    if args.migrate:
        old, new = migrate_database(args.db)
        print(f"{args.db}: schema version {old} -> {new}")
    report = check_database(args.db)
    print(f"{report.path}: schema version {report.schema_version}")
    for table, count in report.counts.items():
        print(f"  {table:<11} {count:>12,}")
    if not args.no_calibration:
        _print_calibration(args.db)
    for warning in report.warnings:
        print(f"Worth a look: {warning}")
    if report.ok:
        print("No problems found.")
        return 0
    print("Problems:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def _print_calibration(db: Path) -> None:
    from fitdata.analytics.trajectory import calibrate
    from fitdata.data.store import reader_for

    calibration = calibrate(reader_for(db))
    if calibration.n_train_episodes == 0:
        print(
            "Expected treatment response: no closed episodes yet, so no expected trajectories; "
            "the dashboards show the reliable-change band instead."
        )
        return
    print("\n".join(calibration.summary_lines()))


def _port_is_free(port: int, ip: str = "127.0.0.1") -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError:
            return False
    return True


def _token(args: argparse.Namespace) -> str | None:
    """The login token: from --token-file, else $FITDATA_TOKEN.

    Never a command-line value, which every user of the machine can read in the process list.
    """
    if args.token_file is not None:
        try:
            return args.token_file.read_text().strip() or None
        except OSError as error:
            raise StoreError(f"cannot read the token file {args.token_file}: {error}") from None
    return os.environ.get("FITDATA_TOKEN") or None


def _check_serve_users(args: argparse.Namespace) -> None:
    """Refuse --user / --users that could not log anybody in, before Voila starts."""
    from fitdata.data.access import list_users

    users = {u.name: u for u in list_users(args.db)}
    if args.user is not None and args.user not in users:
        known = ", ".join(sorted(users)) or "none yet"
        raise StoreError(
            f"--user {args.user}: there is no such user in {args.db} (users: {known}). Add it "
            f"with `fitdata users add {args.user} --role ROLE --db {args.db}`."
        )
    if args.users and not users:
        raise StoreError(
            f"--users logs people in with personal tokens, but {args.db} has no users. Add "
            "them with `fitdata users add NAME --role ROLE --token` first."
        )


def _cmd_serve(args: argparse.Namespace) -> int:
    from fitdata.data.store import reader_for
    from fitdata.server.serve import (
        AccessError,
        ServeOptions,
        check_access,
        default_dashboards_dir,
        options_from_environment,
        serve,
    )

    options = ServeOptions(
        args.db,
        args.dashboards or default_dashboards_dir(),
        args.port,
        args.lang,
        args.config,
        ip=args.ip,
        token=_token(args),
        password_hash=args.password_hash or os.environ.get("FITDATA_PASSWORD_HASH") or None,
        user=args.user,
        users=args.users,
        allow_hosts=tuple(args.allow_host or ()),
        behind_tls=args.behind_tls,
        client_links_only=args.client_links_only,
        **({} if args.pool_size is None else {"pool_size": args.pool_size}),
    )
    try:
        options = options_from_environment(options)
        check_access(options)  # before anything else: refuse to expose data without a login
    except AccessError as error:
        raise StoreError(str(error)) from None
    if args.config is not None:
        load_config(args.config)  # fail now, with the file and key named, not in every page
    if not args.db.exists():
        raise StoreError(
            f"There is no database at {args.db}. Create the demo with "
            f"`fitdata demo --out {args.db}`, or pass --db PATH."
        )
    reader = reader_for(args.db)
    reader.rows("SELECT count(*) FROM sessions")  # refuses a wrong or outdated file up front
    reader.close()
    _check_serve_users(args)
    if not options.dashboards.is_dir():
        raise StoreError(
            f"The dashboards folder {options.dashboards} does not exist; pass --dashboards."
        )
    if not _port_is_free(args.port, args.ip):
        raise StoreError(
            f"Port {args.port} on {args.ip} is already in use (or the address is not this "
            "machine's). Stop what uses it or pass --port / --ip."
        )
    host = f"[{args.ip}]" if ":" in args.ip else args.ip
    url = f"http://{host}:{args.port}/"
    print(Translator(args.lang).text("cli.serving", url=url, db=args.db), flush=True)
    serve(options)
    return 0


def _period(text: str):
    from fitdata.features.service import PeriodError, parse_period

    try:
        return parse_period(text)
    except PeriodError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _command_error(command: str, text: str) -> int:
    """Print ``fitdata <command>: error: <text>`` and return the usage exit status (2)."""
    print(f"fitdata {command}: error: {text}", file=sys.stderr)
    return 2


def _report_error(text: str) -> int:
    return _command_error("report", text)


def _out_folder_problem(args: argparse.Namespace) -> str | None:
    """Why ``--out`` cannot be written before anything is read, or None; then the database."""
    if not args.out.parent.is_dir():
        return f"the folder {args.out.parent} does not exist; create it or change --out"
    if not args.db.exists():
        raise StoreError(f"There is no database at {args.db}. Create one with `fitdata demo`.")
    return None


def _cmd_report(args: argparse.Namespace) -> int:
    from fitdata.data.store import reader_for
    from fitdata.features.service import ServiceFilters, filter_options
    from fitdata.outputs.report import FORMATS, write_report

    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        return _report_error(
            f"cannot tell the report format from {args.out.name!r}; pass --format html, pdf or xlsx"
        )
    config = load_config(args.config)
    if problem := _out_folder_problem(args):
        return _report_error(problem)
    reader = reader_for(args.db)
    options = filter_options(reader)
    if args.service is not None and args.service not in options["services"]:
        return _report_error(
            f"no service {args.service!r} in {args.db}; choose one of "
            + ", ".join(repr(s) for s in options["services"])
        )
    team_id = None
    if args.team is not None:
        teams = options["teams"]
        match = teams[(teams["team_id"] == args.team) | (teams["name"] == args.team)]
        if match.empty:
            return _report_error(
                f"no team {args.team!r} (by id or name) in {args.db}; see the team list in "
                "the service dashboard"
            )
        team_id = str(match.iloc[0]["team_id"])
        if args.service is not None and match.iloc[0]["service"] != args.service:
            return _report_error(f"team {args.team!r} is not in the service {args.service!r}")
    filters = ServiceFilters(
        args.period,
        service=args.service,
        team_id=team_id,
        age_group=args.age_group,
        format=args.episode_format,
    )
    summary = write_report(reader, filters, fmt, args.out, lang=args.lang, config=config)
    clients = summary.headline.iloc[0]["clients"]
    shown = "hidden (fewer than the minimum)" if clients != clients else f"{int(clients):,}"
    print(f"Wrote {args.out} ({fmt}, {args.lang}): period {filters.period.label}, {shown} clients.")
    return 0


def _review_error(text: str) -> int:
    return _command_error("review", text)


def _cmd_review(args: argparse.Namespace) -> int:
    """``fitdata review``: the team review's case list as a file, for a meeting's agenda."""
    from fitdata.data import queries
    from fitdata.data.access import reader_for_user
    from fitdata.features import team_review as cl
    from fitdata.outputs.team_review import CASE_LIST_FORMATS, review_file

    if args.out.suffix.lower() not in CASE_LIST_FORMATS:
        return _review_error(
            f"cannot tell the file format from {args.out.name!r}; give --out a name ending in "
            ".csv or .xlsx"
        )
    config = load_config(args.config)
    if problem := _out_folder_problem(args):
        return _review_error(problem)
    reader = reader_for_user(args.db, args.user)  # a user's scope, audited as on the page
    teams = queries.team_options(reader)
    match = teams[(teams["team_id"] == args.team) | (teams["name"] == args.team)]
    if match.empty:
        known = ", ".join(f"{r.team_id} ({r.name})" for r in teams.itertuples()) or "none"
        return _review_error(f"no team {args.team!r} (by id or name) in {args.db}; teams: {known}")
    team = match.iloc[0]
    as_of = args.as_of or cl.latest_session_date(reader)
    if as_of is None:
        return _review_error(f"{args.db} has no sessions yet; there is no case list to write")
    tr = Translator(args.lang)
    filters = " · ".join(
        [
            f"{tr.text('review.filter.service')}: {team['service']}",
            f"{tr.text('filter.team')}: {team['name']}",
            tr.text(f"review.status.{args.status}"),
        ]
    )
    listed = review_file(
        reader,
        args.out,
        team_id=str(team["team_id"]),
        filters=filters,
        as_of=as_of,
        config=config,
        model=cl.trajectory_model(reader),
        lang=args.lang,
        status=args.status,
    )
    print(
        f"Wrote {args.out} ({args.lang}): {len(listed):,} cases of {team['name']} "
        f"({args.status}) as of {as_of.isoformat()}, most urgent first."
    )
    return 0


def _cmd_client_report(args: argparse.Namespace) -> int:
    """``fitdata client-report``: one client's one-page printout (PDF) for the journal."""
    from fitdata.data.access import reader_for_user
    from fitdata.outputs.client_report import client_report_pdf

    if args.out.suffix.lower() != ".pdf":
        return _command_error(
            "client-report", f"give --out a name ending in .pdf, not {args.out.name!r}"
        )
    config = load_config(args.config)
    if problem := _out_folder_problem(args):
        return _command_error("client-report", problem)
    reader = reader_for_user(args.db, args.user)  # a user's scope, audited as on the page
    path = client_report_pdf(
        reader, args.episode, args.client, lang=args.lang, out=args.out, config=config
    )
    print(f"Wrote {path} ({args.lang}): episode {args.episode}, one page.")
    return 0


def _cmd_client_link(args: argparse.Namespace) -> int:
    """``fitdata client-link``: a link (and QR code) to a session's forms on the client's phone."""
    import getpass

    from fitdata.data.access import AccessDenied, reader_for_user, reader_user
    from fitdata.data.client_links import issue_client_link
    from fitdata.outputs.client_link_qr import configured_base_url, link_address, write_qr_png

    if args.qr is not None and args.qr.suffix.lower() != ".png":
        return _command_error(
            "client-link", f"give --qr a name ending in .png, not {args.qr.name!r}"
        )
    if args.qr is not None and not args.qr.parent.is_dir():
        return _command_error("client-link", f"the folder {args.qr.parent} does not exist")
    if not args.db.exists():
        raise StoreError(f"There is no database at {args.db}. Create one with `fitdata demo`.")
    base_url = configured_base_url(args.base_url)
    if args.qr is not None and base_url is None:
        return _command_error(
            "client-link",
            "a QR code needs the server's address: give --base-url or "
            "$FITDATA_BASE_URL (e.g. https://fitdata.example.org)",
        )
    try:
        reader = reader_for_user(args.db, args.user)  # the issuer's scope: her own episodes
        issuer = reader_user(reader)
        token, grant = issue_client_link(
            reader,
            episode_id=args.episode,
            client_id=args.client,
            hours=args.hours,
            actor=issuer.name if issuer is not None else (args.user or getpass.getuser()),
        )
    except AccessDenied as refused:
        return _command_error("client-link", str(refused))
    address = link_address(token, base_url)
    print(address)
    forms = " and ".join(f.upper() for f in ("ors", "srs") if f in grant.forms)
    print(
        f"For {forms} of episode {grant.episode_id} on {grant.session_date.isoformat()}; "
        f"valid until {grant.expires_at.isoformat(timespec='minutes')} UTC, once per form.",
        file=sys.stderr,
    )
    if args.qr is not None:
        write_qr_png(address, args.qr)
        print(f"Wrote the QR code to {args.qr}.", file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from fitdata.ingest import (
        ImportOptions,
        IngestError,
        ValidationFailed,
        import_files,
        problem_lines,
    )
    from fitdata.ingest.problems import SHOWN_PROBLEMS

    options = ImportOptions(
        mapping=args.mapping,
        dry_run=args.dry_run,
        skip_invalid=args.skip_invalid,
        pseudonymise=args.pseudonymise,
        key_file=args.key_file,
        rejects=args.rejects,
        gap_days=args.episode_gap,
        service=args.service,
        lang=args.lang,
    )
    try:
        summary = import_files(args.files, args.db, options)
    except ValidationFailed as error:
        lines = problem_lines(error.problems)
        for line in lines[:SHOWN_PROBLEMS]:
            print(line, file=sys.stderr)
        if len(lines) > SHOWN_PROBLEMS:
            more = len(lines) - SHOWN_PROBLEMS
            where = (
                f" (all of them are in {args.rejects})"
                if args.rejects
                else "; add --rejects PATH to get all of them in a file"
            )
            print(f"... and {more:,} more problems{where}", file=sys.stderr)
        print(f"fitdata import: error: {error}", file=sys.stderr)
        return 2
    except IngestError as error:
        print(f"fitdata import: error: {error}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    if not args.dry_run:
        _prepare_dashboards(args.db)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from fitdata.outputs.export import export_csv

    count = export_csv(args.db, args.out)
    print(f"Wrote {args.out}: {count:,} sessions in the canonical import format.")
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    from fitdata.data import access

    if not args.db.exists():
        raise StoreError(f"There is no database at {args.db}. Create one with `fitdata demo`.")
    if args.users_command == "add":
        token = access.add_user(
            args.db,
            args.name,
            args.role,
            therapist_id=args.therapist,
            team_ids=args.team or (),
            token=args.token,
        )
        user = next(u for u in access.list_users(args.db) if u.name == args.name)
        print(f"Added {user.describe()}.")
        if token:
            print(f"Login token (shown once; give it to {args.name} privately): {token}")
    elif args.users_command == "remove":
        access.remove_user(args.db, args.name)
        print(f"Removed {args.name}; their open dashboards lose access at their next query.")
    else:
        users = access.list_users(args.db)
        if not users:
            print("No users: access control is off (everyone who can log in sees everything).")
        for user in users:
            created = user.created_at.strftime("%Y-%m-%d %H:%M") if user.created_at else ""
            print(f"{user.describe()}  added {created} UTC by {user.created_by}")
    return 0


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _cmd_audit(args: argparse.Namespace) -> int:
    from fitdata.data import audit

    path = audit.audit_path(args.db)
    if args.verify:
        check = audit.check_audit(args.db)
        if check.problems:
            print(f"{path} has been changed:")
            for problem in check.problems:
                print(f"  - {problem}")
        else:
            print(f"{path}: {check.entries:,} entries, each following the one before.")
        for note in check.notes:
            print(f"  note: {note}")
        return 1 if check.problems else 0
    notes: list[str] = []
    entries = audit.read_audit(
        args.db, user=args.user, client=args.client, since=args.since, notes=notes
    )
    for note in notes:
        print(f"fitdata audit: warning: {note}", file=sys.stderr)
    for entry in entries:
        print(entry.line())
    if not entries:
        print("No entries match.", file=sys.stderr)
    return 0


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"database ({DEFAULT_DB})")


def _language_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=LANGUAGES, default="en", help="language: en or nb (en)")


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML file overriding clinical thresholds ([thresholds] table)",
    )


def _command(
    commands: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    db: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand that runs ``run``, with ``--help`` and (unless ``db`` is False) ``--db``."""
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(run=run)
    if db:
        _db_option(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every subcommand."""
    parser = argparse.ArgumentParser(
        prog="fitdata",
        description="Dashboards over ORS/SRS feedback scores (FIT / KOR), stored in DuckDB.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(
        commands,
        "demo",
        _cmd_demo,
        db=False,
        help="write a realistic synthetic database",
        description="Write a synthetic database that looks like a Norwegian municipality's KOR "
        "data (teams, therapists, clients, episodes, ORS/SRS sessions). Deterministic for a "
        "given seed and day. An existing file at --out is replaced atomically.",
    )
    demo.add_argument("--out", type=Path, default=DEFAULT_DB, help=f"file to write ({DEFAULT_DB})")
    demo.add_argument(
        "--sessions",
        type=_positive_int,
        default=20_000,
        help="approximate number of sessions (20000: a mid-size municipality)",
    )
    demo.add_argument("--seed", type=int, default=20261122, help="random seed (20261122)")

    serve = _command(
        commands,
        "serve",
        _cmd_serve,
        help="start the dashboards (Voila) on this machine",
        description="Start the dashboards with Voila on 127.0.0.1 (this machine only), with "
        "tracebacks hidden, no data files served and idle kernels culled. Another address "
        "(--ip) needs a login: a token in $FITDATA_TOKEN or --token-file, or --password-hash.",
    )
    serve.add_argument("--port", type=_port, default=8866, help="port (8866)")
    _language_option(serve)
    _config_option(serve)
    serve.add_argument(
        "--dashboards", type=Path, default=None, help="folder of dashboard notebooks"
    )
    serve.add_argument(
        "--ip",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1); any other address requires a token or password",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a host name the pages may be opened under besides loopback and --ip (repeat for "
        "more; also $FITDATA_ALLOW_HOSTS); any other Host header is refused (DNS rebinding)",
    )
    serve.add_argument(
        "--behind-tls",
        action="store_true",
        help="a TLS proxy on this machine forwards to fitdata: login cookies get Secure, and the "
        "proxy's X-Forwarded-For is believed from loopback (also $FITDATA_BEHIND_TLS=1)",
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding the login token (else $FITDATA_TOKEN); open the page with ?token=...",
    )
    serve.add_argument(
        "--password-hash",
        default=None,
        help="hashed login password (else $FITDATA_PASSWORD_HASH), from "
        "python -c 'from jupyter_server.auth import passwd; print(passwd())'",
    )
    serve.add_argument(
        "--user",
        default=None,
        metavar="NAME",
        help="a single-user install: show the dashboards as this user of `fitdata users`",
    )
    serve.add_argument(
        "--users",
        action="store_true",
        help="a shared server: everyone logs in with their personal token from "
        "`fitdata users add NAME --role R --token` and sees what their role allows",
    )
    serve.add_argument(
        "--client-links-only",
        action="store_true",
        help="serve client links (/client/<token>, from `fitdata client-link` or the "
        "registration page) and nothing else, with no login: the server clients' phones reach "
        "when therapists use another (docs/deployment.md)",
    )
    serve.add_argument(
        "--pool-size",
        type=_pool_size,
        default=None,
        metavar="N",
        help="preheated kernels kept ready per dashboard for a fast first page, each ~150 MB "
        "until used; 0 starts every page's kernel on request "
        "(fitdata.server.serve.DEFAULT_POOL_SIZE)",
    )

    check = _command(
        commands,
        "check",
        _cmd_check,
        help="verify a database and print counts",
        description="Verify a database file: schema version, constraints across tables, "
        "duplicate sessions; print row counts and how well the expected trajectories fit "
        "held-out closed episodes. Exit status 1 when problems are found.",
    )
    check.add_argument(
        "--migrate",
        action="store_true",
        help="upgrade an older file to this version's schema first (take a backup before)",
    )
    check.add_argument(
        "--no-calibration",
        action="store_true",
        help="skip the expected-trajectory calibration on held-out episodes (faster)",
    )

    report = _command(
        commands,
        "report",
        _cmd_report,
        help="write the leaders' service report (HTML, PDF or XLSX)",
        description="Write a self-contained service report for one period: data completeness, "
        "key figures with intervals, trends by quarter, teams side by side, a plain-language "
        "reading, method notes and sources. The same numbers as the service dashboard; groups "
        "of fewer than 5 clients are hidden.",
    )
    report.add_argument(
        "--period",
        type=_period,
        required=True,
        help="2025Q3 (quarter), 2025-07 (month), 2025 (year) or a range such as 2025Q1..2025Q3",
    )
    report.add_argument("--service", default=None, help="only this service (by name)")
    report.add_argument("--team", default=None, help="focus on this team (by id or name)")
    report.add_argument(
        "--age-group", choices=("child", "adolescent", "adult"), default=None, help="age group"
    )
    report.add_argument(
        "--episode-format",
        choices=FORMATS,
        default=None,
        help="episode format",
    )
    report.add_argument(
        "--format",
        choices=("html", "pdf", "xlsx"),
        default=None,
        help="file format (default: from the --out suffix)",
    )
    report.add_argument("--out", type=Path, required=True, help="file to write (replaced)")
    _language_option(report)
    _config_option(report)

    review = _command(
        commands,
        "review",
        _cmd_review,
        help="write a team's case list (CSV or Excel) for the case review meeting",
        description="Write the team review's case list, as the page's download holds it when "
        "the page opens: the team's ongoing cases with the flags that hold now (warnings "
        "apart from data to check), the flags that held earlier and resolved, most urgent "
        "first. For an agenda prepared ahead of the meeting. The file holds client codes: it "
        "is readable by you only, and the audit log records who took which clients' rows.",
    )
    review.add_argument("--team", required=True, help="the team (by id or name)")
    review.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="flags as of this day; later sessions are ignored (default: the latest session)",
    )
    review.add_argument(
        "--status",
        choices=("ongoing", "ended", "all"),
        default="ongoing",
        help="which cases: ongoing at the date (the page's default), ended, or all",
    )
    review.add_argument(
        "--out", type=Path, required=True, help="file to write, .csv or .xlsx (replaced)"
    )
    review.add_argument(
        "--user",
        default=None,
        metavar="NAME",
        help="read as this user of `fitdata users` (default $FITDATA_USER); needed when the "
        "database has users, and their role decides which teams they may list",
    )
    _language_option(review)
    _config_option(review)

    client_report = _command(
        commands,
        "client-report",
        _cmd_client_report,
        help="write one client's printout (PDF, one page) for the journal",
        description="Write one A4 page with the client's graph (their own ORS and SRS over the "
        "sessions of the episode), the plain sentences their page shows and a table of the "
        "sessions' scores, in the chosen language. The file holds the client's code and "
        "scores: it is readable by you only, and the audit log records the read.",
    )
    client_report.add_argument("--episode", required=True, help="the episode's id")
    client_report.add_argument(
        "--client", default=None, help="the client (default: the episode's index client)"
    )
    client_report.add_argument("--out", type=Path, required=True, help="PDF file to write")
    client_report.add_argument(
        "--user",
        default=None,
        metavar="NAME",
        help="read as this user of `fitdata users` (default $FITDATA_USER); needed when the "
        "database has users",
    )
    _language_option(client_report)
    _config_option(client_report)

    client_link = _command(
        commands,
        "client-link",
        _cmd_client_link,
        help="make a link (and QR code) for a client to fill in ORS and SRS on their phone",
        description="Print a link to the client's own page for one session of an episode: the "
        "client opens it on their phone (no account), fills in the ORS and later the SRS, each "
        "once, until it expires. It prints the path on the server, or the full address when the "
        "server's address is given (--base-url or $FITDATA_BASE_URL). The link opens that "
        "client's own form and graph and nothing else; anyone holding it can, so send it to "
        "the client only. The audit log records who made it.",
    )
    client_link.add_argument("--episode", required=True, help="the episode's id (ongoing)")
    client_link.add_argument(
        "--client",
        default=None,
        metavar="CODE",
        help="who answers (default: the episode's index client; a partner in a couple needs "
        "a link of their own)",
    )
    client_link.add_argument(
        "--hours",
        type=float,
        default=None,
        metavar="H",
        help="how long the link works (default 12 hours, at most a week)",
    )
    client_link.add_argument(
        "--qr", type=Path, default=None, metavar="FILE.png", help="also write a QR code (PNG)"
    )
    client_link.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="the server's address as clients reach it, e.g. https://fitdata.example.org "
        "(default $FITDATA_BASE_URL)",
    )
    client_link.add_argument(
        "--user",
        default=None,
        metavar="NAME",
        help="issue as this user of `fitdata users` (default $FITDATA_USER); needed when the "
        "database has users: a therapist issues links for her own episodes",
    )

    imp = _command(
        commands,
        "import",
        _cmd_import,
        help="import ORS/SRS records from CSV or Excel files",
        description="Import sessions from CSV (comma, semicolon or tab; UTF-8 or Windows-1252) "
        "or .xlsx files in the canonical format (docs/import.md) or another layout described "
        "by a mapping file. Every problem is reported with file, row, column and value; by "
        "default nothing is imported unless every row is valid. Importing the same file twice "
        "adds nothing. A --db that does not exist is created.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV or .xlsx files")
    imp.add_argument(
        "--mapping",
        default=None,
        metavar="M.yml",
        help="mapping file for other layouts, or a shipped one: paper_register_wide, "
        "system_export, couple_register_wide",
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="check and report; write nothing to the database"
    )
    imp.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows; write the others with their problems to a rejects file",
    )
    imp.add_argument(
        "--rejects",
        type=Path,
        default=None,
        metavar="PATH",
        help="rejects file (default: FILE.rejects.csv next to the first file)",
    )
    imp.add_argument(
        "--pseudonymise",
        action="store_true",
        help="replace client identifiers (codes, national identity numbers, names) by keyed "
        "pseudonyms (P-...)",
    )
    imp.add_argument(
        "--key-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="pseudonymisation key, created on first use with mode 0600 "
        "(default: $FITDATA_KEY_FILE or ~/.config/fitdata/pseudonym.key); keep it safe and "
        "outside the database folder",
    )
    imp.add_argument(
        "--episode-gap",
        type=_positive_int,
        default=180,
        metavar="DAYS",
        help="without an episode column: more days than this between sessions start a new "
        "episode (180)",
    )
    imp.add_argument(
        "--service",
        default=None,
        metavar="NAME",
        help="the service of new teams the files name none for (a service column or a "
        "mapping's service: comes first); without any, an import that creates teams is refused",
    )
    _language_option(imp)

    export = _command(
        commands,
        "export",
        _cmd_export,
        help="write the database in the canonical import format (CSV)",
        description="Write every session with its team, therapist, client and episode as one "
        "CSV row, in the canonical format that `fitdata import` reads.",
    )
    export.add_argument("--out", type=Path, required=True, help="CSV file to write (replaced)")

    users = _command(
        commands,
        "users",
        _cmd_users,
        db=False,
        help="add, remove or list the people who may log in, with their roles",
        description="Manage the users table: a therapist sees their own episodes, a supervisor "
        "the episodes of their teams, a leader only aggregates (small groups hidden), an admin "
        "everything. With no users, access control is off. See docs/deployment.md.",
    )
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    users_add = users_commands.add_parser(
        "add",
        help="add a user",
        description="Add a user. The name is the login name (the JupyterHub user name).",
    )
    users_add.add_argument("name", help="login name")
    users_add.add_argument(
        "--role", required=True, choices=("therapist", "supervisor", "leader", "admin")
    )
    users_add.add_argument("--therapist", default=None, metavar="ID", help="therapist id")
    users_add.add_argument(
        "--team", action="append", metavar="ID", help="a supervised team's id (repeatable)"
    )
    users_add.add_argument(
        "--token",
        action="store_true",
        help="also create a personal login token for a shared `fitdata serve --users` server",
    )
    users_remove = users_commands.add_parser("remove", help="remove a user")
    users_remove.add_argument("name", help="login name")
    users_commands.add_parser("list", help="list the users and their roles")
    for sub in users_commands.choices.values():
        _db_option(sub)

    audit = _command(
        commands,
        "audit",
        _cmd_audit,
        help="show who opened which client's data, and when",
        description="Show the audit log (<db>.audit.jsonl): one line per time a user opened a "
        "client's data in a dashboard, oldest first. --verify checks that no entry was changed, "
        "added or removed, and that the file was not truncated or deleted (each entry carries a "
        "keyed MAC of the one before; the key is <db>.audit.key or $FITDATA_AUDIT_KEY_FILE).",
    )
    audit.add_argument("--user", default=None, help="only this user")
    audit.add_argument("--client", default=None, help="only this client")
    audit.add_argument("--since", type=_date, default=None, help="only from this day (YYYY-MM-DD)")
    audit.add_argument("--verify", action="store_true", help="check the log's MAC chain")
    return parser


def _file_problem(error: OSError) -> str:
    """One line for a file the system refused: what, which file, and what to do."""
    where = f" ({error.filename})" if error.filename else ""
    what = f"{error.strerror or error}{where}."
    if is_space_error(error):
        return f"{what} Free space on that disk and try again."
    return f"{what} Check the path and its permissions and try again."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (StoreError, ConfigError) as error:
        print(f"fitdata {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file the command writes or reads: say which, and what to do
        print(f"fitdata {args.command}: error: {_file_problem(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
