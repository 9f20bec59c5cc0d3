"""Sweeps: the grid of configurations (``grid``), the keys of its requests (``keys``), running it (``run``),
its rows (``rows``) and its plan before it runs (``plan``)."""
