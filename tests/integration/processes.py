"""What /proc says of a process."""

from __future__ import annotations

from pathlib import Path


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, Z for a zombie, X for dead...), or None without a process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]  # after the command, which may hold spaces and parentheses
