"""A program that cannot run or does not finish is one of hubshift's errors, naming the
program and the hub, never the secrets in its arguments."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hubshift.errors import (
    CommandError,
    CommandTimeout,
    HubshiftError,
    ProgramNotFound,
    ProgramNotPermitted,
)
from hubshift.system.execute import child_env, run, spawn

SECRET = "hunter2-never-shown"


def test_a_missing_program_is_program_not_found_naming_it_and_the_hub(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFound) as caught:
        run([tmp_path / "pg_dumpx", f"--password={SECRET}"], hub="physics")
    err = caught.value
    assert isinstance(err, HubshiftError) and err.exit_code == 1
    assert (err.program, err.hub) == ("pg_dumpx", "physics")
    assert str(err).startswith("hub 'physics': cannot run pg_dumpx: No such file")
    assert SECRET not in str(err) and SECRET not in repr(err.args)


def test_a_program_without_the_execute_bit_is_program_not_permitted(tmp_path: Path) -> None:
    script = tmp_path / "hub-ctl"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(ProgramNotPermitted) as caught:
        run([script, SECRET])
    assert caught.value.program == "hub-ctl" and "Permission denied" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_file_that_is_no_program_is_a_command_error(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x00\x01\x02 not an executable")
    blob.chmod(0o755)
    with pytest.raises(CommandError) as caught:
        run([blob])
    assert type(caught.value) is CommandError
    assert "cannot run blob: Exec format error" in str(caught.value)


def test_a_missing_working_directory_is_not_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        run(["true"], cwd=tmp_path / "gone")
    assert type(caught.value) is CommandError
    assert str(caught.value) == f"cannot run true: No such file or directory ({tmp_path / 'gone'})"


def test_a_command_past_its_timeout_is_killed_and_is_a_command_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run(["sh", "-c", f"sleep 30 # {SECRET}"], timeout=0.5, hub="chem")
    assert time.monotonic() - started < 10
    assert str(caught.value) == "hub 'chem': sh did not finish within 0.5 s; it was killed"


def test_spawn_translates_the_same_failures(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFound):
        spawn([tmp_path / "jupyterhub", SECRET], env=child_env(), cwd=tmp_path,
              log_path=tmp_path / "hub.log", hub="physics")
    # A log whose folder is a file cannot be opened, whoever runs the test (root too).
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("")
    with pytest.raises(CommandError) as caught:
        spawn(["true"], env=child_env(), cwd=tmp_path, log_path=not_a_folder / "hub.log")
    assert type(caught.value) is CommandError, caught.value
    assert str(not_a_folder) in str(caught.value)
