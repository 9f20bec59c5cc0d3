"""The result store: the schema of what it holds (``schema``) and the SQLite file itself (``store``)."""
