"""The model registry: one folder per version with the model and its metadata.

    REGISTRY/<version>/model.json     the coefficients (LinearModel)
    REGISTRY/<version>/metadata.json  version, created_at, data window, features, metrics,
                                      training data kind (synthetic or log), approved

The matching service scores with the newest approved version (of this registry, else of
the shipped folder); a version is approved by `jobmatch model approve VERSION` or
`POST /v1/models/{version}/approve` once someone has read its evaluation (and its shadow
run, `jobmatch model shadow VERSION`). The running worker notices the approval, records
the switch in the log (`ModelActivated`) and scores with the new version from that record
on (services/matching/model/activation.py).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.matching.model.linear import LinearModel

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True)
class Entry:
    version: str
    path: Path
    metadata: dict[str, Any]

    @property
    def approved(self) -> bool:
        return bool(self.metadata.get("approved"))

    def model(self) -> LinearModel:
        return LinearModel.load(self.path / "model.json")


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            meta = folder / "metadata.json"
            if (folder / "model.json").is_file() and meta.is_file():
                try:
                    metadata = json.loads(meta.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    # Being written (`save` writes it after the model), or damaged: not a
                    # version yet. Logged, never fatal to a caller listing versions.
                    log.warning(
                        "model version unreadable: skipped",
                        extra={"folder": str(folder), "error": f"{type(exc).__name__}: {exc}"},
                    )
                    continue
                if isinstance(metadata, dict):
                    found.append(Entry(folder.name, folder, metadata))
        # Versions are timestamps (YYYYMMDDTHHMMSS-...), so names sort by age.
        return sorted(found, key=lambda e: e.version)

    def newest_approved(self) -> Entry | None:
        approved = [e for e in self.entries() if e.approved]
        return approved[-1] if approved else None

    def save(self, model: LinearModel, metadata: dict[str, Any]) -> Entry:
        folder = self.root / model.version
        folder.mkdir(parents=True, exist_ok=False)
        model.save(folder / "model.json")
        meta = {**metadata, "version": model.version, "features": list(model.features)}
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        return Entry(model.version, folder, meta)

    def find(self, version: str) -> Entry | None:
        return next((e for e in self.entries() if e.version == version), None)

    def approve(self, version: str, by: str | None = None) -> Entry:
        """Approve `version`, recording who (`by`: the verified caller, or the CLI's user)
        and when; the metadata file is replaced whole, never left half written."""
        entry = self.find(version)
        if entry is None:
            raise KeyError(version)
        meta = {
            **entry.metadata,
            "approved": True,
            "approved_by": by,
            "approved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        target = entry.path / "metadata.json"
        fd, tmp = tempfile.mkstemp(dir=entry.path, prefix=".metadata-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Entry(entry.version, entry.path, meta)


class Models:
    """The versions the matching service may score with: the registry's, then the shipped
    ones (a registry version of the same name wins). `newest_approved` is what should score
    now; `find` resolves a version a `ModelActivated` record names."""

    def __init__(self, registry: Path, shipped: Path = SHIPPED) -> None:
        self.registry = Registry(registry)
        self.shipped = Registry(shipped)

    def newest_approved(self) -> Entry | None:
        return self.registry.newest_approved() or self.shipped.newest_approved()

    def find(self, version: str) -> Entry | None:
        return self.registry.find(version) or self.shipped.find(version)
