"""The ``fitdata`` command line: one subcommand for every job a person runs.

Errors are printed as one line that says what was wrong and what to do, never a traceback,
and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from fitdata.config import ConfigError, load_config
from fitdata.i18n import LANGUAGES, Translator
from fitdata.store import StoreError

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


def _cmd_demo(args: argparse.Namespace) -> int:
    from fitdata.demo import generate_demo

    summary = generate_demo(args.out, sessions=args.sessions, seed=args.seed)
    print(
        f"Wrote {args.out}: {summary.sessions:,} sessions, {summary.episodes:,} episodes, "
        f"{summary.clients:,} clients, {summary.therapists} therapists, {summary.teams} teams "
        f"in {summary.seconds:.1f} s."
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from fitdata.store import check_database, migrate_database

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
    if report.ok:
        print("No problems found.")
        return 0
    print("Problems:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def _print_calibration(db: Path) -> None:
    from fitdata.store import reader_for
    from fitdata.trajectory import calibrate

    calibration = calibrate(reader_for(db))
    if calibration.n_train_episodes == 0:
        print(
            "Expected treatment response: no closed episodes yet, so no expected trajectories; "
            "the dashboards show the reliable-change band instead."
        )
        return
    print("\n".join(calibration.summary_lines()))


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cmd_serve(args: argparse.Namespace) -> int:
    from fitdata.serve import ServeOptions, default_dashboards_dir, serve
    from fitdata.store import reader_for

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
    dashboards = args.dashboards or default_dashboards_dir()
    if not dashboards.is_dir():
        raise StoreError(f"The dashboards folder {dashboards} does not exist; pass --dashboards.")
    if not _port_is_free(args.port):
        raise StoreError(f"Port {args.port} is already in use. Stop what uses it or pass --port.")
    url = f"http://127.0.0.1:{args.port}/"
    print(Translator(args.lang).text("cli.serving", url=url, db=args.db), flush=True)
    serve(ServeOptions(args.db, dashboards, args.port, args.lang, args.config))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every subcommand."""
    parser = argparse.ArgumentParser(
        prog="fitdata",
        description="Dashboards over ORS/SRS feedback scores (FIT / KOR), stored in DuckDB.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
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
    demo.set_defaults(run=_cmd_demo)

    serve = commands.add_parser(
        "serve",
        help="start the dashboards (Voila) on this machine",
        description="Start the dashboards with Voila on 127.0.0.1 (this machine only), with "
        "tracebacks hidden, no data files served and idle kernels culled.",
    )
    serve.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"database ({DEFAULT_DB})")
    serve.add_argument("--port", type=_port, default=8866, help="port (8866)")
    serve.add_argument("--lang", choices=LANGUAGES, default="en", help="language: en or nb (en)")
    serve.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML file overriding clinical thresholds ([thresholds] table)",
    )
    serve.add_argument(
        "--dashboards", type=Path, default=None, help="folder of dashboard notebooks"
    )
    serve.set_defaults(run=_cmd_serve)

    check = commands.add_parser(
        "check",
        help="verify a database and print counts",
        description="Verify a database file: schema version, constraints across tables, "
        "duplicate sessions; print row counts and how well the expected trajectories fit "
        "held-out closed episodes. Exit status 1 when problems are found.",
    )
    check.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"database ({DEFAULT_DB})")
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
    check.set_defaults(run=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (StoreError, ConfigError) as error:
        print(f"fitdata {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
