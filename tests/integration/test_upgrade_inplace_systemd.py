"""The in-place upgrade tests of test_upgrade_inplace.py (PostgreSQL, faults after the
switch, the upgrade), with the hub a systemd unit whose ExecStart names the env itself, as
TLJH's does: the unit, not hubshift, runs the hub. (The refusal of a package pinned to an
older JupyterHub happens in preflight, whatever runs the hub: it runs under `process` only.)"""

from __future__ import annotations

import pytest

from tests.integration import test_upgrade_inplace as inplace

pytestmark = pytest.mark.integration

#: The lab's hub runs as a unit of the session's systemd user manager.
MANAGER = "systemd_manager"

# The same tests, bound in the order they must run (one hub goes through all of them).
lab = inplace.lab
test_a_failure_after_the_switch_puts_the_env_back_byte_for_byte_and_the_config_folder = (
    inplace.test_a_failure_after_the_switch_puts_the_env_back_byte_for_byte_and_the_config_folder)
test_upgrade_in_place_keeps_users_groups_and_tokens_and_backs_up_the_config_folder = (
    inplace.test_upgrade_in_place_keeps_users_groups_and_tokens_and_backs_up_the_config_folder)
