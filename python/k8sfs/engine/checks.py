"""Checks shared by chapters, built from quoted words."""

from __future__ import annotations

from k8sfs import quote


def running_newer_than(unit: str, files: list[str], extra: str = "") -> list[str]:
    """Exit 0 when `unit` is active and started after every file in `files`
    last changed (microseconds): a certificate or config written by an
    earlier step, or by an apply killed before the restart, makes it fail,
    so the service is restarted. `extra` is one more shell condition."""
    u = quote(unit)
    script = (
        f"systemctl is-active --quiet {u} || exit 1\n"
        f'started=$(date -d "$(systemctl show --timestamp=us+utc -p ActiveEnterTimestamp --value {u})" '
        f"+%s%6N) || exit 1\n"
    )
    if files:
        script += (
            "for f in " + " ".join(quote(f) for f in files) + "; do\n"
            '  [ -e "$f" ] || continue\n'
            '  [ "$(stat -c %.6Y "$f" | tr -d .)" -lt "$started" ] || exit 1\n'
            "done\n"
        )
    if extra:
        script += extra + "\n"
    return ["sh", "-c", script]
