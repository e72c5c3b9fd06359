"""Files shown with colour by their kind (a unit, YAML, TOML, JSON, shell)
in Jupyter and the book: Pygments when it is there (Jupyter brings it),
plain escaped text otherwise."""

from __future__ import annotations

from html import escape

_LEXERS = {"unit": "ini", "yaml": "yaml", "toml": "toml", "json": "json", "shell": "bash", "sysctl": "ini"}


def highlight_html(text: str, kind: str) -> str:
    """A <pre> block with inline colours (no stylesheet needed)."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:
        return f"<pre class='k8sfs-file'>{escape(text)}</pre>"
    lexer = get_lexer_by_name(_LEXERS.get(kind, "text"))
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style="friendly")
    return f"<pre class='k8sfs-file k8sfs-{escape(kind)}'>{highlight(text, lexer, formatter)}</pre>"


def diff_html(diff: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import DiffLexer
    except ImportError:
        return f"<pre class='k8sfs-diff'>{escape(diff)}</pre>"
    return (
        "<pre class='k8sfs-diff'>"
        + highlight(diff, DiffLexer(), HtmlFormatter(noclasses=True, nowrap=True, style="friendly"))
        + "</pre>"
    )
