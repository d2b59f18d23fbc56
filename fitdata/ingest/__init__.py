"""Getting existing records in: ``fitdata import`` of CSV and Excel files (see docs/import.md).

Modules, in the order data flows through them: :mod:`~fitdata.ingest.read` (files to text
columns), :mod:`~fitdata.ingest.columns` (headers, aliases, mappings, wide registers),
:mod:`~fitdata.ingest.privacy` (keyed pseudonyms; what is an identity number, a name or a
code is :mod:`fitdata.identifiers`), :mod:`~fitdata.ingest.validate` (checks of single rows),
:mod:`~fitdata.ingest.existing` (what the database holds), :mod:`~fitdata.ingest.assign`
(checks across rows and against the database; episodes and session numbers),
:mod:`~fitdata.ingest.entities` (the rows to write) and :mod:`~fitdata.ingest.importer` (one
transaction, the summary and the rejects file). :mod:`~fitdata.ingest.limits` holds how large
a file may be.
"""

from fitdata.ingest.importer import ImportOptions, ImportSummary, import_files, problem_lines
from fitdata.ingest.problems import IngestError, ValidationFailed

__all__ = [
    "ImportOptions",
    "ImportSummary",
    "IngestError",
    "ValidationFailed",
    "import_files",
    "problem_lines",
]
