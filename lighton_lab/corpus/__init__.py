"""Documents and their ground truth: corpus folders, ground-truth readers (text, ALTO, PAGE-XML, hOCR),
and the synthetic sample corpus."""
