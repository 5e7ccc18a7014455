"""The user's `ray start` flags, read out of the legacy `headStartRayCommands` and `workerStartRayCommands`.

The legacy operator ran these shell lines in each pod; the ray.io/v1 operator generates `ray start` itself,
so only the flags it cannot know survive, as `rayStartParams`. Values keep their shell quoting: the operator
writes them back into a shell command line, where `$VARIABLES` still expand.
"""

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.resources import CUSTOM_RESOURCES_FLAG, FLAG_RESOURCES, flag_resources

# Flags the operator sets on its own (or that make no sense under it), dropped without a warning.
_GENERATED_FLAGS: Final = frozenset({"head", "no-monitor", "block", "address"})
_DEFAULT_PORT: Final = "6379"
# The autoscaler sidecar writes its own configuration; a path from the legacy head means nothing there.
_AUTOSCALER_FLAGS: Final = frozenset({"autoscaling-config"})
_ASSIGNMENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_FLAG_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SEPARATORS: Final = ";&|\n"


@dataclass
class StartFlags:
    """What a list of start commands asks of `ray start`."""

    params: dict[str, str] = field(default_factory=dict)
    """rayStartParams: flag name without dashes -> shell text of the value ("true" for a bare flag)."""
    resources: dict[str, str] = field(default_factory=dict)
    """Ray resources the resource flags set (CPU, GPU, memory and custom ones)."""
    resources_path: str = ""
    """Where the resource flags were, for warnings about them."""


def simple_commands(text: str, path: str) -> list[list[str]]:
    """The simple commands of a shell line, each as its words with their quotes kept.

    Splits at `;`, `&&`, `||`, `|`, `&` and newlines outside quotes; `#` at the start of a word begins a
    comment. Enough for start commands, which are lists of plain commands, not scripts.
    """
    commands: list[list[str]] = []
    words: list[str] = []
    word = ""
    quote = ""
    index = 0

    def end_word() -> None:
        nonlocal word
        if word:
            words.append(word)
            word = ""

    def end_command() -> None:
        nonlocal words
        end_word()
        if words:
            commands.append(words)
            words = []

    while index < len(text):
        char = text[index]
        if quote:
            word += char
            if char == "\\" and quote == '"' and index + 1 < len(text):
                word += text[index + 1]
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            word += char
        elif char == "\\" and text[index + 1 : index + 2] == "\n":
            index += 1  # a line continuation joins the lines
        elif char == "\\" and index + 1 < len(text):
            word += text[index : index + 2]
            index += 1
        elif char == "#" and not word:
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            continue
        elif char in " \t":
            end_word()
        elif char == "&" and word.endswith((">", "<")):
            word += char  # part of a redirection that joins streams (>&)
        elif char in _SEPARATORS:
            end_command()
        else:
            word += char
        index += 1
    if quote:
        raise LegacyError(path, f"unterminated {quote} quote in {text!r}")
    end_command()
    return commands


def unquote(word: str, path: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError as error:
        raise LegacyError(path, f"cannot read {word!r}: {error}") from None
    return " ".join(parts)


def parse_start_commands(commands: Sequence[str], path: str, findings: Findings) -> StartFlags:
    """The `ray start` flags of a list of start commands; every other command becomes a warning.

    `path` names the list, e.g. `spec.headStartRayCommands`.
    """
    flags = StartFlags()
    starts = 0
    for index, line in enumerate(commands):
        where = f"{path}[{index}]"
        for words in simple_commands(line, where):
            shown = " ".join(words)
            assignments = 0
            while assignments < len(words) and _ASSIGNMENT.match(words[assignments]):
                assignments += 1
            start = assignments + 1 if words[assignments : assignments + 1] == ["exec"] else assignments
            program = [unquote(w, where) for w in words[start : start + 2]]
            name = os.path.basename(program[0]) if program else ""
            if name == "ray" and program[1:] == ["start"]:
                starts += 1
                if starts > 1:
                    findings.warn(
                        where,
                        f"a second ray start ({shown!r}): its flags are merged with the first one's; "
                        "the operator runs ray start once per pod",
                    )
                if assignments:
                    findings.warn(
                        where,
                        f"environment assignments before ray start ({' '.join(words[:assignments])}) are "
                        "left out: set them as env of the Ray container",
                    )
                _read_flags(words[start + 2 :], where, flags, findings)
            elif (name == "ray" and program[1:] == ["stop"]) or _is_file_limit(words):
                continue  # the operator starts each container afresh, with the file limit raised
            else:
                findings.warn(
                    where,
                    f"{shown!r} is not run: the operator starts Ray itself; bake it into the image or run "
                    "it in an init container",
                )
    return flags


def _is_file_limit(words: list[str]) -> bool:
    return len(words) == 3 and words[0] == "ulimit" and words[1] == "-n" and words[2].isdigit()


def _read_flags(words: list[str], where: str, flags: StartFlags, findings: Findings) -> None:
    index = 0
    while index < len(words):
        word = words[index]
        text = unquote(word, where)
        index += 1
        if not text.startswith("--"):
            findings.warn(where, f"{word!r} is not a ray start flag and is left out")
            continue
        name, has_value, _ = text[2:].partition("=")
        if not _FLAG_NAME.fullmatch(name):
            findings.warn(where, f"{word!r} is not a ray start flag and is left out")
            continue
        if has_value:
            # The value as written, quotes and all, when the flag's name is not itself quoted.
            value = text.split("=", 1)[1]
            raw = word.split("=", 1)[1] if word.startswith(f"--{name}=") else shlex.quote(value)
        elif index < len(words) and not unquote(words[index], where).startswith("-"):
            # ray start takes no positional arguments: a word after a flag is that flag's value.
            raw = words[index]
            index += 1
        else:
            raw = "true"
        _keep_flag(name, raw, where, flags, findings)


def _keep_flag(name: str, raw: str, where: str, flags: StartFlags, findings: Findings) -> None:
    if name in _GENERATED_FLAGS:
        return
    value = unquote(raw, where)
    if name == "port" and value == _DEFAULT_PORT:
        return
    if name in _AUTOSCALER_FLAGS:
        findings.warn(where, f"--{name} is left out: the autoscaler sidecar is configured by the operator")
        return
    if name in FLAG_RESOURCES or name == CUSTOM_RESOURCES_FLAG:
        resources = flag_resources(name, value, where)
        if resources is None:
            findings.warn(
                where,
                f"--{name}={raw} is left out: its value is only known in the pod; the operator derives "
                "Ray's CPUs, GPUs and memory from the Ray container's resources (set rayResources to "
                "override)",
            )
            return
        flags.resources.update(resources)
        flags.resources_path = where
        return
    flags.params[name] = raw
