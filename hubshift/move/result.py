"""The outcome of a move: an upgrade's result (same exit codes, same JSON keys) with what
only a move has."""

from __future__ import annotations

from pydantic import Field

from hubshift.result import UpgradeResult


class MoveResult(UpgradeResult):
    to_database: str | None = Field(None, description="The new database: engine, name and "
                                    "where (never its password)")
    db_url_variable: str | None = Field(None, description="The environment variable the hub's "
                                        "config reads its db_url from, now set by hubshift")
    source_sha256: str | None = Field(None, description="sha256 of the SQLite file when the "
                                      "hub stopped")
    source_sha256_after: str | None = Field(
        None, description="sha256 of the SQLite file at the end (before a rollback's start): "
        "equal to source_sha256, as the move never writes it")
    lossy_columns: list[str] = Field(
        default_factory=list, description="Columns whose sub-second parts the new engine does "
        "not keep (MySQL DATETIME, as JupyterHub creates it)")
    replaced_tables: list[str] = Field(
        default_factory=list, description="Tables of the target dropped by --replace")
