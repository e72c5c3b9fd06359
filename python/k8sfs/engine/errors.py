"""Errors of the runner: they name the host, the step and the command."""

from __future__ import annotations


class StepError(RuntimeError):
    def __init__(self, host: str, step: str, message: str, command: str = "", stderr_tail: str = "") -> None:
        self.host, self.step, self.command, self.stderr_tail = host, step, command, stderr_tail
        self.also_failed: dict[str, BaseException] = {}
        text = f"{host}: step {step}: {message}"
        if command:
            text += f"\n  command: {command}"
        if stderr_tail:
            text += "\n  stderr (last lines):\n    " + "\n    ".join(stderr_tail.splitlines())
        super().__init__(text)


class UnreachableError(RuntimeError):
    """A host could not be reached; `why` is the transport's own message."""

    def __init__(self, host: str, why: str, hint: str = "") -> None:
        self.host, self.why, self.hint = host, why, hint
        named = why if why.startswith(f"{host}:") else f"{host}: {why}"
        super().__init__(f"unreachable: {named}" + (f"\n{hint}" if hint else ""))
