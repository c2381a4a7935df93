"""The error of a bad ``params.yaml``, apart from the checks so any layer can raise it cheaply.

:mod:`pneumothorax.config.params` raises it for a file that is missing or not YAML and for a
bad key or value (one line naming the key); the config loader for a group defined twice. It
lives alone so importing it pulls in nothing else of the package.
"""

from __future__ import annotations


class ParamsError(ValueError):
    """A value in ``params.yaml`` is missing, misspelt or out of range."""
