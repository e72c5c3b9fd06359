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
