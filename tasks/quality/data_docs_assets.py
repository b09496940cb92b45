"""Make GX Data Docs open offline: local copies of the CSS/JS its pages load from CDNs.

Why: GX 1.x's page templates hard-code jQuery, Bootstrap 4, bootstrap-table, vega and Font
Awesome URLs on public CDNs, and the Data Docs index draws its list of validations with
bootstrap-table, so without internet the index page stays empty. GX has no setting for
where those assets live, and overriding its templates would mean keeping copies of them in
step with every GX release, so instead:

- ``scripts/setup_env.sh`` runs this file as a script (stdlib only, ``fetch``): it takes the
  exact files from the npm registry with ``npm pack`` (one tarball per package, no
  ``node_modules``) into ``VENDOR_DIR`` (git-ignored), once per version list below.
- After each Data Docs build, ``gx_runner`` calls ``localize_site``: it copies those files
  into the site's ``static/vendor/`` (so the site folder is self-contained and can be zipped
  or served as is) and rewrites the CDN links of the pages that build wrote to relative
  paths. ``integrity``/``crossorigin`` go too: browsers refuse CORS loads of ``file://``.

``CDN_FILES`` is the one list: the URL a GX template uses -> the npm package and the file in
it (the file jsDelivr/unpkg serve for that URL). A GX upgrade that adds or changes a URL is
caught by ``tests/quality/test_data_docs.py``, which fails on any remote script/stylesheet
left in a built page; add the new URL here. Without ``VENDOR_DIR`` (setup not run) pages keep
their CDN links and a warning says so: they still work online.

Run ``python tasks/quality/data_docs_assets.py check|fetch``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parent / "data_docs_vendor"
SITE_VENDOR = Path("static") / "vendor"
MANIFEST = "MANIFEST.json"

# URL in GX's templates (render/view/templates/*.j2, great_expectations 1.24) -> (npm package@version,
# file in the package). Floating majors (vega@5) are pinned to the release current when listed.
CDN_FILES: dict[str, tuple[str, str]] = {
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        ("@fortawesome/fontawesome-free@6.6.0", "css/all.min.css"),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        ("popper.js@1.12.9", "dist/umd/popper.min.js"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        ("bootstrap@4.3.1", "dist/js/bootstrap.min.js"),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        ("bootstrap@4.3.1", "dist/css/bootstrap.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    # The templates ask for 1.19.0's stylesheet (minified or not) beside 1.19.1's script.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        ("bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        ("bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        ("@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.css"),
}
# Files a stylesheet above loads by relative URL (Font Awesome's ../webfonts/).
EXTRA_FILES: dict[str, tuple[str, ...]] = {
    "@fortawesome/fontawesome-free@6.6.0": tuple(
        f"webfonts/fa-{face}.{ext}"
        for face in ("brands-400", "regular-400", "solid-900", "v4compatibility")
        for ext in ("woff2", "ttf")
    ),
}
# The navbar logo comes from GX's web-assets bucket; GX already copies the same image into the
# site's own static/images/.
GX_IMAGES_URL = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
SITE_IMAGES = Path("static") / "images"

_TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(r'\b(src|href)="(https?://[^"]+)"')
_CORS_ATTRS = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')


def _package_dir(package: str) -> str:
    """``@fortawesome/fontawesome-free@6.6.0`` -> ``fortawesome-fontawesome-free-6.6.0`` (npm pack's name)."""
    name, _, version = package.rpartition("@")
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


def _wanted() -> dict[str, set[str]]:
    files: dict[str, set[str]] = {}
    for package, path in CDN_FILES.values():
        files.setdefault(package, set()).add(path)
    for package, paths in EXTRA_FILES.items():
        files.setdefault(package, set()).update(paths)
    return files


def _manifest() -> str:
    return json.dumps({package: sorted(paths) for package, paths in sorted(_wanted().items())}, indent=1)


def is_fetched(vendor_dir: Path = VENDOR_DIR) -> bool:
    manifest = vendor_dir / MANIFEST
    return manifest.is_file() and manifest.read_text() == _manifest()


def fetch(vendor_dir: Path = VENDOR_DIR) -> None:
    """Take every listed file from its npm tarball (``npm pack``; npm's cache makes re-runs offline)."""
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "vendor"
        wanted = _wanted()
        if shutil.which("npm") is None:
            raise RuntimeError("npm not found: install Node.js with npm (Debian: apt-get install npm) "
                               "to fetch the Data Docs assets")
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, *wanted],
                       check=True, stdout=subprocess.DEVNULL)
        for package, paths in wanted.items():
            target = staging / _package_dir(package)
            with tarfile.open(Path(tmp) / f"{_package_dir(package)}.tgz") as tar:
                for path in sorted(paths):
                    member = tar.extractfile(f"package/{path}")
                    if member is None:
                        raise FileNotFoundError(f"{path} is not in the npm package {package}")
                    (target / path).parent.mkdir(parents=True, exist_ok=True)
                    (target / path).write_bytes(member.read())
        (staging / MANIFEST).write_text(_manifest())
        shutil.rmtree(vendor_dir, ignore_errors=True)
        vendor_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), vendor_dir)


def _local_url(url: str, page: Path, site_dir: Path) -> str | None:
    """Relative URL of the local copy of ``url`` as seen from ``page``; None if there is none."""
    base = url.split("?", 1)[0]
    if base in CDN_FILES:
        package, path = CDN_FILES[base]
        local = site_dir / SITE_VENDOR / _package_dir(package) / path
    elif base.startswith(GX_IMAGES_URL):
        local = site_dir / SITE_IMAGES / base.removeprefix(GX_IMAGES_URL)
        if not local.is_file():
            return None
    else:
        return None
    return Path(os.path.relpath(local, page.parent)).as_posix()


def localize_page(page: Path, site_dir: Path) -> list[str]:
    """Point one page's scripts, stylesheets and images at the site's local copies.

    Returns the remote URLs it could not replace (none for GX 1.24's templates).
    """
    html = page.read_text(encoding="utf-8")
    unknown: list[str] = []

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        found = _URL_ATTR.search(text)
        if not found or (text.lower().startswith("<link") and "stylesheet" not in text.lower()):
            return text
        local = _local_url(found.group(2), page, site_dir)
        if local is None:
            unknown.append(found.group(2))
            return text
        text = text[:found.start(2)] + local + text[found.end(2):]
        return _CORS_ATTRS.sub("", text)

    new = _TAG.sub(tag, html)
    if new != html:
        page.write_text(new, encoding="utf-8")
    return unknown


def localize_site(site_dir: Path, *, modified_since: float | None = None,
                  vendor_dir: Path = VENDOR_DIR) -> int:
    """Copy the vendored assets into ``site_dir`` and rewrite the pages; returns pages read.

    Only pages written since ``modified_since`` (epoch seconds) are read, as a docs build only
    rewrites the index and the pages of its run, and a site grows by a page per suite per run;
    every page is read when the site gets (new) assets, e.g. the first time.
    """
    if not is_fetched(vendor_dir):
        log.warning("Data Docs keep their CDN links (no offline copies in %s; run `make setup`)", vendor_dir)
        return 0
    site_vendor = site_dir / SITE_VENDOR
    if not (site_vendor / MANIFEST).is_file() or (site_vendor / MANIFEST).read_text() != _manifest():
        shutil.rmtree(site_vendor, ignore_errors=True)
        shutil.copytree(vendor_dir, site_vendor)
        modified_since = None
    # File times come from a coarser clock than time.time(); a little slack re-reads a few pages.
    since = None if modified_since is None else modified_since - 2.0
    read = 0
    unknown: set[str] = set()
    for page in site_dir.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since:
            continue
        unknown.update(localize_page(page, site_dir))
        read += 1
    if unknown:
        log.warning("Data Docs still load from the internet: %s (add them to %s CDN_FILES)",
                    ", ".join(sorted(unknown)), __name__)
    return read


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "check":
        return 0 if is_fetched() else 1
    if command == "fetch":
        if not is_fetched():
            fetch()
        return 0
    print(f"usage: {argv[0]} check|fetch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
