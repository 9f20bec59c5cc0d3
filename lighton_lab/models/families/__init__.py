"""One file per model family (``FAMILY`` and its ``VARIANTS``); ``models/variants.py`` lists them."""
