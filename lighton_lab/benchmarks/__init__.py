"""Standard benchmarks run through the workbench's sweeps and store: olmOCR-Bench (``olmocr_bench``)."""
