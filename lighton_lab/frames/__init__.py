"""Results as pandas DataFrames: scored rows (``rows``) and summaries, intervals and comparisons (``stats``)."""
