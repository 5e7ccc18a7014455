"""What a conversion reports besides its output: warnings about fields without an equivalent, and the one
error that stops it."""

from dataclasses import dataclass, field


class LegacyError(ValueError):
    """Input that cannot be converted; `path` names the field (empty when the whole document is at fault)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Finding:
    """A field of the input that the output does not carry as it was, and what the user should do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Findings:
    """The warnings of one document, in the order they were found."""

    items: list[Finding] = field(default_factory=list)

    def warn(self, path: str, message: str) -> None:
        self.items.append(Finding(path, message))
