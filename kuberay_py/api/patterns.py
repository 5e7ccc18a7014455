"""Regular expressions that CEL (RE2) and Python (re) both evaluate, and the glue to use them on each side.

Every pattern is anchored with ^ and $ and uses only syntax the two engines read the same way.
"""

import re
from typing import Final

DNS1035_LABEL: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_NAME: Final = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY: Final = rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_LABEL_NAME}$"
LABEL_VALUE: Final = rf"^({_LABEL_NAME})?$"
# DNS subdomain prefix (253) + "/" + name (63).
MAX_LABEL_KEY_LENGTH: Final = 317
# A non-negative Kubernetes quantity: "2", "0.5", "500m", "8Gi", "1e3". The exponent has at most two digits:
# any larger one is beyond what Kubernetes represents (2^63-1), and costly to compute.
QUANTITY: Final = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,2})?$"
# A percentage from 1% to 100%.
PERCENT: Final = r"^(100|[1-9][0-9]?)%$"


def cel(pattern: str) -> str:
    """The pattern as a CEL raw string literal, so that backslashes reach RE2 untouched."""
    if "'" in pattern:
        raise ValueError(f"pattern {pattern!r} cannot be a single-quoted CEL literal")
    return f"r'{pattern}'"


def matches(pattern: str, value: str) -> bool:
    """What CEL's `value.matches(pattern)` returns for an anchored pattern.

    Python's `$` also matches before a trailing newline, RE2's does not; fullmatch on the unanchored body
    behaves like RE2.
    """
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"pattern {pattern!r} must be anchored")
    return re.fullmatch(pattern[1:-1], value) is not None
