"""The `hubshift` command and its demo: the top layer, above flows and deployments.

The core (`hubshift`) never imports this package; this package may import everything.
"""
