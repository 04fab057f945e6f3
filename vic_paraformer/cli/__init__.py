"""The ``vic-paraformer`` command-line tool (top layer: one module per sub-command)."""
