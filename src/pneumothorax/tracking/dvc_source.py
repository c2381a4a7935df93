"""An MLflow dataset source for a DVC remote MLflow has no source type for."""

from __future__ import annotations

from typing import Any

from mlflow.data.dataset_source import DatasetSource


class DvcRemoteSource(DatasetSource):
    """A dataset kept on a DVC remote MLflow has no source type for (``ssh://``, ``gs://``…).

    Only described, never loaded by MLflow: ``dvc pull`` fetches it. The underscored
    methods are the ones MLflow's ``DatasetSource`` asks a subclass to define.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self) -> Any:
        """Not loadable through MLflow.

        Raises:
            NotImplementedError: always; ``dvc pull`` fetches the data.
        """
        raise NotImplementedError(f"{self.uri}: fetch it with `dvc pull`")

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> DvcRemoteSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        """``{"uri": ...}``, as MLflow's artifact sources describe themselves."""
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DvcRemoteSource:
        """The source ``to_dict`` described."""
        return cls(str(source_dict["uri"]))
