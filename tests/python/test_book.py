"""The book a person reads without a lab (make book): the executed
notebooks in docs/book/ are made from the notebooks as they are now, and
their HTML pages, opened in headless Chromium, load with every section,
picture and explanation and without an error.

The browser runs a script of the test's own in each page after it loads
(appended to a copy of the page) that writes what a reader sees (the
rendered text, which leaves out what sits in a closed fold; each picture's
size; the links) into the page as JSON, and --dump-dom prints it."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BOOK = ROOT / "docs" / "book"


def _book_script():
    spec = importlib.util.spec_from_file_location("k8sfs_book", ROOT / "scripts" / "book.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Every chapter of the walkthrough has a section of its own (a heading that names it).
CHAPTER_HEADINGS = {
    "certificates": "Certificates",
    "swap": "Swap",
    "runtime": "container runtime",
    "kubelet": "kubelet",
    "crictl": "crictl",
    "static pod": "static pod",
    "etcd": "etcd",
    "kube-apiserver": "kube-apiserver",
    "authorization": "Authorization",
    "kubectl": "kubectl",
    "controller manager": "Controller manager",
    "scheduler": "scheduler",
    "pod network": "pod network",
    "kube-proxy": "kube-proxy",
    "DNS": "DNS",
    "smoke test": "smoke test",
}

PROBE = """
<script>
window.addEventListener('load', () => {
  const headings = [...document.querySelectorAll('h1, h2')].map(h => h.innerText.replace(/¶$/, '').trim());
  // nbconvert puts a picture output in an <img> with the SVG as a data URI; a broken one decodes to 0x0.
  const picture = '[data-mime-type="image/svg+xml"]';
  const svgs = [...document.querySelectorAll(`${picture} img, ${picture} svg`)]
    .filter(s => !s.parentElement.closest('svg'))
    .map(s => { const r = s.getBoundingClientRect();
                const decoded = s.tagName === 'IMG' ? s.naturalWidth : r.width;
                return [Math.round(Math.min(r.width, decoded)), Math.round(r.height)]; });
  const links = [...document.querySelectorAll('a[href^="http"]')].map(a => a.href);
  const out = document.createElement('pre');
  out.id = 'k8sfs-probe';
  out.textContent = JSON.stringify({title: document.title, headings, svgs, links, text: document.body.innerText});
  document.body.appendChild(out);
});
</script>
"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _seen(page: Path) -> dict:
    """What a reader sees of `page`, from a headless Chromium."""
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    run = subprocess.run(
        [
            _chromium() or "chromium",
            "--headless",
            "--no-sandbox",  # root, in a test
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--window-size=1280,900",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    found = re.search(r'<pre id="k8sfs-probe">(.*?)</pre>', run.stdout, re.S)
    assert found, f"{page.name}: the page did not load in Chromium (exit {run.returncode}): {run.stderr[-800:]}"
    import html

    return json.loads(html.unescape(found.group(1)))


def _section(text: str, heading: str, headings: list[str]) -> str:
    """The rendered text from `heading` to the next heading of the page."""
    start = text.index(heading)
    later = [text.find(h, start + len(heading)) for h in headings if h != heading]
    ends = [i for i in later if i > start]
    return text[start : min(ends) if ends else len(text)]


def test_each_executed_notebook_is_made_from_the_notebook_as_it_is_now():
    book = _book_script()
    for path in NOTEBOOKS:
        executed = BOOK / path.name
        assert executed.exists(), f"docs/book/{path.name} is missing: run `make book`"
        ran = nbformat.read(executed, as_version=4)
        from conftest import OUTPUTS

        OUTPUTS.append(f"book {path.name}\n{nbformat.writes(ran)}")  # committed: the secrets scan reads it too
        made_from = ran.metadata.get("k8sfs", {}).get("sources_sha256")
        assert made_from == book.sources_digest(nbformat.read(path, as_version=4)), (
            f"docs/book/{path.name} was made from another version of notebooks/{path.name}: run `make book`"
        )
        code = [c for c in ran.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name}: a cell was not run"
        errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, dict]:
    if _chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    out = tmp_path_factory.mktemp("book")
    names = [p.stem for p in NOTEBOOKS]
    _book_script().to_html(names, out)
    return {name: _seen(out / f"{name}.html") for name in ["index", *names]}


def test_every_page_loads_with_its_title_and_no_error(pages):
    assert len(pages["index"]["text"].splitlines()) >= len(NOTEBOOKS)
    for name, seen in pages.items():
        if name == "index":
            continue
        assert seen["headings"] and seen["headings"][0][:2] == name[1] + ".", (name, seen["headings"][:2])
        assert "Traceback (most recent call last)" not in seen["text"], name


def test_every_picture_renders_with_a_size(pages):
    counts = {name: len(seen["svgs"]) for name, seen in pages.items()}
    # Topology (01, 06), the PKI tree (02), the Service path and the timeline (05).
    assert counts["01-hosts"] >= 1 and counts["02-certificates"] >= 1 and counts["05-cluster-services"] >= 2
    for name, seen in pages.items():
        assert all(w > 50 and h > 50 for w, h in seen["svgs"]), (name, seen["svgs"])


def test_each_chapter_of_the_walkthrough_has_its_section(pages):
    headings = [h for name, seen in pages.items() for h in seen["headings"]]
    missing = [c for c, words in CHAPTER_HEADINGS.items() if not any(words.lower() in h.lower() for h in headings)]
    assert missing == [], headings


@pytest.mark.parametrize(
    "page, heading, file, flags",
    [
        (
            "04-control-plane",
            "4.1 etcd",
            "/etc/systemd/system/etcd.service",
            ["--listen-client-urls", "--peer-cert-file"],
        ),
        (
            "04-control-plane",
            "4.2 kube-apiserver",
            "/etc/systemd/system/kube-apiserver.service",
            ["--etcd-servers", "--service-cluster-ip-range"],
        ),
        (
            "03-runtime-kubelet-crictl",
            "3.3 The kubelet",
            "/var/lib/kubelet/config.yaml",
            ["cgroupDriver", "staticPodPath"],
        ),
        ("05-cluster-services", "5.3 kube-proxy", "/var/lib/kube-proxy/config.yaml", ["clusterCIDR", "mode"]),
        ("05-cluster-services", "5.2 The pod network", "/etc/cni/net.d/", ["bridge", "host-local"]),
    ],
)
def test_a_components_section_shows_its_file_flags_reasons_and_checks(pages, page, heading, file, flags):
    seen = pages[page]
    text = _section(seen["text"], heading, seen["headings"])
    assert file in text, f"{heading}: {file} is not on the page"
    for flag in flags:
        assert flag in text, f"{heading}: {flag} is not shown"
    # Each flag's reason beside it, with a link to the reference of the version rendered.
    assert "why" in text.lower() or "reason" in text.lower(), heading
    assert [link for link in seen["links"] if re.search(r"v1-\d+\.docs\.kubernetes\.io|etcd\.io/docs/v3\.", link)]
    # The checks as a person types them, and their real output; k8sfs's own check script only in a closed fold.
    assert "systemctl status" in text or "ip route" in text, heading
    assert "how k8sfs checks" in text, heading
    assert "stat -c %" not in text and "date -d" not in text, f"{heading}: an internal check script is in view"
