"""Files for import tests, and functions the import concurrency test runs in other processes."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

HEADER = ["team", "behandler", "klient", "aldersgruppe", "dato", "ORS", "SRS"]


def write_csv(
    path: Path,
    rows: list[list[str]],
    header: list[str] = HEADER,
    *,
    delimiter: str = ";",
    encoding: str = "utf-8",
) -> Path:
    """A CSV file as a spreadsheet program writes it (values with the delimiter quoted)."""

    def cell(value: str) -> str:
        return f'"{value}"' if delimiter in value or '"' in value else value

    lines = [delimiter.join(cell(h) for h in header)]
    lines += [delimiter.join(cell(v) for v in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def weekly_rows(
    client: str,
    sessions: int,
    *,
    start: dt.date = dt.date(2025, 1, 6),
    team: str = "Ungdomsteamet",
    therapist: str = "Kari Hansen",
    age: str = "ungdom",
    first_ors: float = 18.0,
) -> list[list[str]]:
    """Weekly sessions of one client in the canonical Norwegian layout of ``HEADER``."""
    return [
        [
            team,
            therapist,
            client,
            age,
            (start + dt.timedelta(weeks=i)).strftime("%d.%m.%Y"),
            f"{first_ors + i:.1f}".replace(".", ","),
            "36,5",
        ]
        for i in range(sessions)
    ]


def import_repeatedly(db: str, folder: str, files: int, sessions_each: int) -> int:
    """Import ``files`` new files one after another (each its own transaction)."""
    from fitdata.ingest import import_files

    imported = 0
    for number in range(files):
        path = write_csv(
            Path(folder) / f"batch{number}.csv",
            [
                row
                for c in range(sessions_each // 5)
                for row in weekly_rows(
                    f"K-{Path(folder).name}{number:02d}{c:03d}", 5, start=dt.date(2025, 3, 3)
                )
            ],
        )
        imported += import_files([path], Path(db)).imported
        time.sleep(0.05)
    return imported


def read_until_stopped(path: str, stop_file: str, max_seconds: float) -> dict:
    """Query the file as a dashboard would until ``stop_file`` exists; report what was seen."""
    from fitdata.data.store import reader_for

    reader = reader_for(Path(path))
    counts: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and not Path(stop_file).exists():
        try:
            counts.append(int(reader.rows("SELECT count(*) FROM sessions")[0][0]))
            reader.df("SELECT * FROM sessions WHERE client_id = 'K-ONE' ORDER BY session_no")
        except Exception as error:  # noqa: BLE001 - any error is what the test looks for
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.005)
    return {"queries": len(counts), "counts": counts, "errors": errors}
