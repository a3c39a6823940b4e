"""``python -m groklst_cli`` (also what ``torchrun -m groklst_cli`` starts)."""

from groklst_cli.app import main

main()
