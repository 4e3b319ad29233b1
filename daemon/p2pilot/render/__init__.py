"""Human output of the read commands: tables, sections, relative times, colour on a terminal.

Every renderer takes the same document its command prints with ``--json``, so
what an operator reads and what a script parses never drift apart, and a field
added to the data (a new guard) shows without a change here.
"""
