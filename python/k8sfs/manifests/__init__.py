"""Every manifest, script and small unit k8sfs writes besides the C++
renderers' output: one file each in this folder, one placeholder style.

A placeholder is `{{ name }}`. `render(template, **values)` fills each one
and refuses a placeholder without a value or a value without a placeholder,
so a typo cannot pass silently. Shell and YAML keep their own `$` and `{`.
The first line of each template says k8sfs wrote it and for which cluster.
"""

from __future__ import annotations

import re
from importlib import resources

PLACEHOLDER = re.compile(r"\{\{ ([a-z_]+) \}\}")


class TemplateError(ValueError):
    """A template and its values do not match."""


def template(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


def render(name: str, **values: str) -> str:
    text = template(name)
    wanted = set(PLACEHOLDER.findall(text))
    missing, unused = wanted - set(values), set(values) - wanted
    if missing or unused:
        raise TemplateError(
            f"manifest {name}: "
            + "; ".join(
                part
                for part in (
                    f"no value for {', '.join(sorted(missing))}" if missing else "",
                    f"no placeholder for {', '.join(sorted(unused))}" if unused else "",
                )
                if part
            )
        )
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def names() -> list[str]:
    return sorted(
        p.name for p in resources.files(__name__).iterdir() if p.name != "__init__.py" and not p.name.startswith("__")
    )
