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
        # One stat for all (a missing file has no time and is left out) and
        # one awk to compare: two processes, however many files. awk's
        # doubles hold microseconds since 1970 exactly (< 2^53).
        script += (
            "stat -c %.6Y -- " + " ".join(quote(f) for f in files) + " 2>/dev/null | "
            'awk -v s="$started" \'{ sub(/\\./, ""); if ($1 + 0 >= s + 0) newer = 1 } END { exit newer }\' '
            "|| exit 1\n"
        )
    if extra:
        script += extra + "\n"
    return ["sh", "-c", script]
