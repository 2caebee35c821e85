"""The pure settlement engine: a discharge claim in, an itemized bill out.

Nothing here reads files, talks to a database or looks at the clock. The tariff in force is
passed in as data; see `settlement.engine.settle` for the entry point.
"""
