"""The ``lighton-lab`` command: ``main`` parses the arguments, ``commands`` does what each one asks."""
