"""`python -m hubshift_cli`: the same as the `hubshift` console script."""

from hubshift_cli.app import main

main()
