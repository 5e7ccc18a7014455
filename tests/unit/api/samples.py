"""The RayCluster and RayJob samples in config/samples, loaded for the tests."""

from pathlib import Path
from typing import Any

import yaml

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "config" / "samples"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def rayclusters(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in documents(path) if doc.get("kind") == "RayCluster"]


def rayjobs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in documents(path) if doc.get("kind") == "RayJob"]
