"""One small error hierarchy, so the CLI can map any failure to an exit code in one place.

Adapters translate botocore/SQLAlchemy/httpx/subprocess errors into these with
``raise ... from err``; each error carries the hub, the step and a hint for the operator.
"""

from __future__ import annotations


class HubshiftError(Exception):
    """Base of every error hubshift raises on purpose."""

    #: Exit code of the CLI when this error ends a command (see DESIGN: exit codes).
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        hub: str | None = None,
        step: str | None = None,
        hint: str | None = None,
        cause: str | None = None,
        hub_state: str | None = None,
        next_command: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hub = hub
        self.step = step
        self.hint = hint
        # For the operator's last lines, when the raiser knows them: what failed and why
        # (default: the message), where the hub stands now, and the one command to run next.
        self.cause = cause or message
        self.hub_state = hub_state
        self.next_command = next_command

    def __str__(self) -> str:
        where = []
        if self.hub:
            where.append(f"hub {self.hub!r}")
        if self.step:
            where.append(f"step {self.step}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ConfigError(HubshiftError):
    """The fleet file or a command-line argument is wrong; nothing was touched."""

    exit_code = 2


class PreflightError(HubshiftError):
    """A check before any downtime refused the upgrade; nothing was touched."""

    exit_code = 2


class RehearsalError(PreflightError):
    """The rehearsal on a copy of the hub failed: a refusal before any downtime (exit 2).

    `outcome` (set by the rehearsal) holds what it measured up to the failure and where it
    failed; the live hub was never touched."""


class CommandError(HubshiftError):
    """A program could not be run, or did not finish in time (see system.execute).

    `program` is the program's name only, never its arguments or environment, which may
    hold secrets; `reason` is what the system said (``No such file or directory``, ...).
    """

    def __init__(self, message: str, *, program: str = "", reason: str = "",
                 **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.program = program
        self.reason = reason or message


class ProgramNotFound(CommandError):
    """The program to run does not exist (not installed, or not on PATH)."""


class ProgramNotPermitted(CommandError):
    """The program exists but may not be run by this user (permissions, noexec mount)."""


class CommandTimeout(CommandError):
    """The program ran longer than it was given; it was killed."""


class RuntimeControlError(HubshiftError):
    """A hub process could not be started, stopped or inspected."""


class InstallError(HubshiftError):
    """A JupyterHub version could not be installed or switched to."""


class DatabaseError(HubshiftError):
    """The hub database could not be read, copied or restored."""


class ScratchRefused(DatabaseError):
    """The database server refused to create a scratch database (a grant is missing)."""


class StorageError(HubshiftError):
    """The backup store could not be reached, written or read back."""


class BackupError(HubshiftError):
    """A backup is missing, incomplete or does not match its manifest."""


class MigrationError(HubshiftError):
    """``jupyterhub upgrade-db`` failed or left the database at the wrong revision."""


class VerificationError(HubshiftError):
    """The upgraded hub does not answer, reports the wrong version, or lost rows."""


class RollbackError(HubshiftError):
    """The rollback could not finish: an operator is needed."""

    exit_code = 3


class ConfirmationNeeded(HubshiftError):
    """A manual rollback would replace the live database and was not confirmed; nothing was
    touched. `report` holds what the restore would discard, one line each."""

    exit_code = 2

    def __init__(self, message: str, *, report: list[str] | None = None,
                 **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)  # one positional argument: it can be pickled
        self.report = report or []
