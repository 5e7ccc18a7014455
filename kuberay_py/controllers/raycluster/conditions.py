"""Condition bookkeeping: keep lastTransitionTime stable unless the status really changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ConditionUpdate:
    type: str
    status: bool
    reason: str
    message: str = ""


def merge_conditions(
    previous: list[dict[str, Any]] | None, updates: list[ConditionUpdate], generation: int | None, now: str
) -> list[dict[str, Any]]:
    """The new condition list: one entry per update, in the updates' order; others dropped."""
    old = {c.get("type"): c for c in previous or []}
    merged = []
    for update in updates:
        status = "True" if update.status else "False"
        before = old.get(update.type)
        changed_at = before.get("lastTransitionTime") if before and before.get("status") == status else None
        condition: dict[str, Any] = {
            "type": update.type,
            "status": status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": changed_at or now,
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        merged.append(condition)
    return merged
