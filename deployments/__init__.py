"""Prefect deployments made from the fleet file: a scheduled upgrade per hub, a rollback,
and a fleet upgrade. `hubshift serve` runs them in one process; `hubshift deploy` registers
them with a work pool so that workers on the hubs' hosts run them."""
