"""hubshift: upgrade JupyterHub deployments safely, as Prefect flows.

The ``hubshift`` package is the core: plain Python with no Prefect import, so that
every side effect can be tested and reused without an orchestrator.
"""

__version__ = "0.1.0"
