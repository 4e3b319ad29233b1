"""What the running daemon is built from; ``service.py`` only starts, runs and stops it.

- ``accounts``: the configured accounts opened (exchange client, chat channel, startup check)
- ``leases``: which accounts this daemon holds, and the PostgreSQL leases behind that
- ``jobs``: every account's poll jobs in their runners
- ``rules``: the config's rules and safety limits, compiled for the engine
- ``desk``: all of the above built in one place, in order
- ``schedule``: when each job runs (APScheduler)
- ``servers``: the mailbox readers, the evidence server and metrics of ``run``
"""
