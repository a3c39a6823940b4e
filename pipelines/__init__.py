"""Data pipelines of groklst: ingest, degrade, tile, train, infer, mosaic.

Pure functions and small classes; no command-line handling lives here. Problems with what a
user gave us are raised as :class:`pipelines.errors.InputError` so the CLI can report them in
one line with exit status 2.
"""
