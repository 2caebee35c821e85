"""Persistence: engines and transactions, migrations, the tables and their column lists, the
conversions between rows and engine types, the settlement store and the key rows."""
