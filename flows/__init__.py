"""Prefect flows: the order of the steps of an upgrade or a rollback, and nothing else."""
