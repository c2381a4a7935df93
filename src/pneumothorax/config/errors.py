"""The error of a bad ``params.yaml``, apart from the checks so any layer can raise it cheaply.

The config loader raises it for a file that is not YAML; :mod:`pneumothorax.config.params` for a
bad key or value. It lives alone so importing it pulls in nothing else of the package.
"""

from __future__ import annotations


class ParamsError(ValueError):
    """A value in ``params.yaml`` is missing, misspelt or out of range."""
