"""Scores of one page: text normalisation and CER/WER/NED (``text``), markup readers (``markup``), the peers'
own measures (``peers``), regions (``regions``) and the character diff (``diff``)."""
