"""Label selectors: parsing the API's string syntax and matching labels against it.

``LabelSelector.parse("app=web,tier in (frontend,backend),!legacy")`` accepts everything ``kubectl -l`` does
(``=``, ``==``, ``!=``, ``in``, ``notin``, existence, ``!`` non-existence, ``>``/``<``).
``LabelSelector.from_match_labels({"app": "web"})`` builds one from a dict, and ``str(selector)`` gives the
canonical text to send to the API server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET_OPERATOR = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_BINARY_OPERATOR = re.compile(r"^\s*([^!=<>\s]+)\s*(==|!=|=|>|<)\s*(\S*)\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    operator: str  # one of: "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if op == ">" else number < bound

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part) for part in _split_top_level(text)))

    @classmethod
    def from_match_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        return cls(tuple(Requirement(k, "=", (v,)) for k, v in sorted(labels.items())))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def equality_terms(self) -> list[tuple[str, str]]:
        """The ``key=value`` clauses; an index on them narrows a lookup before the full match."""
        return [
            (r.key, r.values[0])
            for r in self.requirements
            if r.operator == "=" or (r.operator == "in" and len(r.values) == 1)
        ]

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _parse_requirement(text: str) -> Requirement:
    match = _SET_OPERATOR.match(text)
    if match:
        values = tuple(sorted(v.strip() for v in match.group(3).split(",") if v.strip()))
        return Requirement(match.group(1), match.group(2), values)
    if text.startswith("!"):
        key = text[1:].strip()
        _check_key(key, text)
        return Requirement(key, "!")
    match = _BINARY_OPERATOR.match(text)
    if match:
        operator = "=" if match.group(2) == "==" else match.group(2)
        return Requirement(match.group(1), operator, (match.group(3),))
    key = text.strip()
    _check_key(key, text)
    return Requirement(key, "exists")


def _check_key(key: str, text: str) -> None:
    if not key or any(c in key for c in " =!()<>"):
        raise ValueError(f"invalid label selector clause: {text!r}")
