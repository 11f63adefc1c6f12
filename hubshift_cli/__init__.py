"""The `hubshift` command and its demo: the top layer, above flows and deployments.

The core (`hubshift`) never imports this package; this package may import everything.
"""

import os

#: Seconds the temporary Prefect server (no PREFECT_API_URL) has to answer: Prefect's 20 are
#: short on a small host busy with the hub it upgrades, and a command that gives up there
#: has done nothing. Set before Prefect reads its settings; an operator's value wins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
