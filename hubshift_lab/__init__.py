"""The lab: real hubs, an S3 server and a notification inbox made on this machine.

`hubshift demo`, the tests and the bench build their hubs from it. It is scaffolding, not
part of the core: nothing in `hubshift` imports it.
"""
