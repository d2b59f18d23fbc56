"""What a dashboard needs to know about where it runs: database, language, thresholds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig, load_config
from fitdata.i18n import LANGUAGES, Translator
from fitdata.store import Reader, StoreError, reader_for

__all__ = ["DashboardContext"]

#: Environment variables set by ``fitdata serve`` for every dashboard kernel.
ENV_DB, ENV_LANG, ENV_CONFIG = "FITDATA_DB", "FITDATA_LANG", "FITDATA_CONFIG"


@dataclass(frozen=True)
class DashboardContext:
    """The database, language and clinical thresholds one dashboard page works with."""

    db_path: Path
    lang: str = "en"
    config: ClinicalConfig = field(default=DEFAULT_CONFIG)

    @classmethod
    def from_environment(cls) -> DashboardContext:
        """Build the context from the variables ``fitdata serve`` sets for each kernel.

        Raises:
            StoreError: If no database is configured.
        """
        db = os.environ.get(ENV_DB)
        if not db:
            raise StoreError(
                f"No database is configured ({ENV_DB} is not set). Start the dashboards with "
                "`fitdata serve --db PATH` (or `make demo` for the demo database)."
            )
        lang = os.environ.get(ENV_LANG, "en")
        if lang not in LANGUAGES:
            lang = "en"
        return cls(Path(db), lang, load_config(os.environ.get(ENV_CONFIG) or None))

    @property
    def reader(self) -> Reader:
        """This process's read-only view of the database."""
        return reader_for(self.db_path)

    @property
    def tr(self) -> Translator:
        """Messages in the context's language."""
        return Translator(self.lang)
