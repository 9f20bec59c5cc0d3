"""``python -m lighton_lab.cli``: the ``lighton-lab`` command."""

from lighton_lab.cli.main import main

main()
