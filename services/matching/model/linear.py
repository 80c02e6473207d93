"""A logistic model stored as plain JSON (no pickle): loading it runs no code.

Linear on standardised features, so each factor's signed contribution to the log-odds is
exact (coefficient x standardised value), which is what a consultant is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinearModel:
    version: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(good placement) per row of `x` (rows are pair feature vectors)."""
        return 1.0 / (1.0 + np.exp(-self.logits(np.atleast_2d(x))))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's signed contribution to the log-odds, relative to the average pair."""
        return ((x - self.mean) / self.scale) * self.coef

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "logistic",
            "version": self.version,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LinearModel:
        if doc.get("kind") != "logistic":
            raise ValueError(f"not a logistic model: {doc.get('kind')!r}")
        mean, scale, coef = (
            np.asarray(doc[k], dtype=np.float64) for k in ("mean", "scale", "coef")
        )
        n = len(doc["features"])
        if any(a.shape != (n,) for a in (mean, scale, coef)):
            raise ValueError("model arrays do not match its feature list")
        return cls(
            doc["version"], tuple(doc["features"]), mean, scale, coef, float(doc["intercept"])
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        return cls.from_json(json.loads(path.read_text()))
