"""The ``vic-paraformer`` command-line tool."""
