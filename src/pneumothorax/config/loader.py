"""A Kedro config loader whose parameters come from the repository's ``params.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import OmegaConf

from pneumothorax.config.errors import ParamsError
from pneumothorax.config.params import PARAMS_FILE, load_params, validate_params, with_defaults


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` that reads parameters from ``<project>/params.yaml``.

    DVC tracks ``params.yaml`` (``dvc exp run -S image.size=128`` edits it), so Kedro reads
    the same file instead of a copy under ``conf/`` that could drift. A symlink would do
    the same on a plain checkout, but ``dvc exp run --temp`` materialises workspaces
    without symlinks, and Windows checkouts often do too; hence this small subclass.
    ``conf/<env>/parameters*.yml`` may still add a group that ``params.yaml`` leaves out
    (every top-level key must be a field of
    :class:`pneumothorax.config.params.ProjectParams`), but may not redefine one from it.
    Runtime parameters (``kedro run --params``) still win over both, as in any Kedro
    project. The merged parameters are validated here, the one path every Kedro reader
    takes, and returned as plain mappings, a group left out at its model's defaults: Kedro
    then builds each group's model for the nodes whose ``params:<group>`` input is
    annotated with it.

    Other config files read a parameter with the ``${params:<dotted.key>}`` resolver, e.g.
    the catalog's raw folder ``path: ${params:raw.folder}``: one key in ``params.yaml``
    that ``dvc.yaml`` reads too (``${raw.folder}``), so the two never name different folders.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the loader (arguments as ``OmegaConfigLoader``) and its ``params`` resolver."""
        super().__init__(*args, **kwargs)
        # OmegaConf resolvers are process-wide; the last loader created answers, like
        # Kedro's own "globals" resolver.
        OmegaConf.register_new_resolver("params", self._param_value, replace=True)

    def _param_value(self, key: str) -> Any:
        value = OmegaConf.select(OmegaConf.create(self["parameters"]), key, default=None)
        if value is None:
            raise MissingConfigException(
                f"${{params:{key}}}: no '{key}' in {self._params_path()} (the project's params)"
            )
        return value

    def _params_path(self) -> Path:
        return Path(self.conf_source).parent / PARAMS_FILE

    def __getitem__(self, key: str) -> dict[str, Any]:
        """Return the config for ``key``; for ``parameters``, ``params.yaml`` merged in.

        Raises:
            ParamsError: ``params.yaml`` is missing or not YAML, a group is defined twice,
                or a key or value is bad (one line naming the key).
        """
        if key != "parameters":
            return super().__getitem__(key)
        try:
            extra = super().__getitem__(key)
        except MissingConfigException:
            extra = {}
        params_path = self._params_path()
        params = load_params(params_path)
        clash = sorted(set(params) & set(extra))
        if clash:
            raise ParamsError(
                f"parameter group(s) {', '.join(clash)} defined both in {params_path} and under "
                f"{self.conf_source}; keep them in {PARAMS_FILE} only (DVC tracks that file)"
            )
        merged = {**params, **extra}
        if self.runtime_params:
            # The base class merged `kedro run --params` into `extra` only; they must win
            # over params.yaml too (e.g. --params tracking.required=true).
            merged = cast(
                dict[str, Any],
                OmegaConf.to_container(
                    OmegaConf.merge(OmegaConf.create(merged), OmegaConf.create(self.runtime_params))
                ),
            )
        validate_params(merged)
        return with_defaults(merged)
