"""``dvc plots show`` without a network: an HTML template with the chart libraries inlined.

DVC's vega renderer loads vega, vega-lite and vega-embed from a CDN, so its ``dvc_plots/index.html`` shows
empty boxes on a machine without internet. ``make install`` runs this module once: it fetches the same
versions DVC names (read from ``dvc_render``) from the npm registry, checks each tarball against the
registry's published sha512, writes ``.dvc/plots_offline.html`` with the three scripts inlined (DVC fills
``{plot_divs}``; the template has no ``{scripts}``, so no CDN tag is added) and points this repository's
local DVC config at it (``plots.html_template`` in ``.dvc/config.local``).

Without the registry the install goes on: one line says so and ``dvc plots show`` keeps DVC's CDN page.

Usage::

    python -m omnihuman_pipeline.plots_offline            # fetch, write the template, set the DVC config
    python -m omnihuman_pipeline.plots_offline --check    # say whether the template is in place
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

TEMPLATE_NAME = "plots_offline.html"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
BUILDS = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "vega-embed": "build/vega-embed.min.js"}

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot (offline)</title>
    <!-- {libraries}: inlined, so the page renders without a network -->
{inlined}
    <style>table { border-spacing: 15px; }</style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


class PlotsTemplateError(RuntimeError):
    """A library could not be fetched or did not match the registry's checksum."""


def dvc_vega_versions() -> dict[str, str]:
    """``{package: version}`` of the CDN scripts DVC's vega renderer would load."""
    from dvc_render.vega import VegaRenderer

    found = dict(re.findall(r"npm/(vega(?:-lite|-embed)?)@([\w.\-]+)", VegaRenderer.SCRIPTS))
    if set(found) != set(BUILDS):
        raise PlotsTemplateError(f"dvc_render names {sorted(found)}; expected {sorted(BUILDS)}")
    return found


def _read(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the npm registry or a file:// mirror
        return response.read()


def fetch_library(name: str, version: str, registry: str = DEFAULT_REGISTRY, timeout: float = 30.0) -> str:
    """The minified build of ``name@version`` from the npm registry, checked against its published sha512."""
    base = registry.rstrip("/")
    try:
        meta = json.loads(_read(f"{base}/{name}/{version}", timeout))
        tarball = _read(f"{base}/{name}/-/{name}-{version}.tgz", timeout)
    except (OSError, ValueError) as err:
        raise PlotsTemplateError(f"{name}@{version}: cannot fetch from {base} ({err})") from None
    integrity = str(meta.get("dist", {}).get("integrity", ""))
    if not integrity.startswith("sha512-"):
        raise PlotsTemplateError(f"{name}@{version}: the registry publishes no sha512 integrity")
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != integrity.removeprefix("sha512-"):
        raise PlotsTemplateError(f"{name}@{version}: the tarball does not match the registry's sha512")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        member = archive.extractfile(f"package/{BUILDS[name]}")
        if member is None:
            raise PlotsTemplateError(f"{name}@{version}: {BUILDS[name]} is not in the package")
        return member.read().decode("utf-8")


def render_template(libraries: dict[str, str], versions: dict[str, str]) -> str:
    """The HTML template with each library's code in its own ``<script>`` (DVC replaces ``{plot_divs}``)."""
    scripts = []
    for name in BUILDS:
        code = libraries[name].replace("</script", "<\\/script")  # the code cannot end its own tag
        scripts.append(f'    <script type="text/javascript">/* {name}@{versions[name]} */\n{code}\n    </script>')
    listing = ", ".join(f"{n}@{versions[n]}" for n in BUILDS)
    return PAGE.replace("{libraries}", listing).replace("{inlined}", "\n".join(scripts))  # the code goes in last


def install(dvc_dir: Path, registry: str = DEFAULT_REGISTRY, set_config: bool = True) -> Path:
    """Fetch the libraries, write ``dvc_dir / plots_offline.html`` and set ``plots.html_template`` locally."""
    versions = dvc_vega_versions()
    libraries = {name: fetch_library(name, version, registry) for name, version in versions.items()}
    path = dvc_dir / TEMPLATE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_template(libraries, versions), encoding="utf-8")
    os.replace(tmp, path)
    if set_config:
        subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", TEMPLATE_NAME],
                       cwd=dvc_dir.parent, check=True, capture_output=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the offline HTML template of `dvc plots show`.")
    parser.add_argument("--dvc-dir", type=Path, default=Path(".dvc"), help="the repository's .dvc folder")
    parser.add_argument("--registry", default=os.environ.get("NPM_CONFIG_REGISTRY", DEFAULT_REGISTRY))
    parser.add_argument("--check", action="store_true", help="only say whether the template is in place")
    args = parser.parse_args(argv)
    path = args.dvc_dir / TEMPLATE_NAME
    if args.check:
        print(f"{path}: {'in place' if path.is_file() else 'missing (dvc plots show loads its libraries from a CDN)'}")
        return 0 if path.is_file() else 1
    try:
        written = install(args.dvc_dir, args.registry)
    except (PlotsTemplateError, subprocess.CalledProcessError) as err:
        print(f"plots_offline: {err}; `dvc plots show` will load its chart libraries from a CDN", file=sys.stderr)
        return 0  # an install without the registry goes on
    print(f"plots_offline: {written} ({written.stat().st_size // 1024} KB); dvc plots show renders offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
