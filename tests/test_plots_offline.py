"""The offline template of `dvc plots show`: DVC's library versions, checked fetches, a page with no CDN tag."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pytest

from omnihuman_pipeline import plots_offline
from omnihuman_pipeline.plots_offline import PlotsTemplateError, fetch_library, render_template


def _publish(registry, name: str, version: str, code: str, *, corrupt: bool = False) -> None:
    """A file:// npm mirror holding ``name@version`` with its metadata's sha512."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        data = code.encode()
        info = tarfile.TarInfo(f"package/{plots_offline.BUILDS[name]}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tarball = buf.getvalue()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    (registry / name / "-").mkdir(parents=True, exist_ok=True)
    (registry / name / version).write_text(json.dumps({"dist": {"integrity": integrity}}))
    (registry / name / "-" / f"{name}-{version}.tgz").write_bytes(tarball + (b"x" if corrupt else b""))


def test_the_versions_are_the_ones_dvc_would_load_from_its_cdn():
    versions = plots_offline.dvc_vega_versions()
    assert set(versions) == {"vega", "vega-lite", "vega-embed"} and all(v[0].isdigit() for v in versions.values())


def test_a_fetch_is_checked_against_the_registrys_sha512(tmp_path):
    _publish(tmp_path, "vega", "5.20.2", "var vega = {};")
    assert fetch_library("vega", "5.20.2", tmp_path.as_uri()) == "var vega = {};"
    _publish(tmp_path, "vega-lite", "5.2.0", "var vl = {};", corrupt=True)
    with pytest.raises(PlotsTemplateError, match="does not match the registry's sha512"):
        fetch_library("vega-lite", "5.2.0", tmp_path.as_uri())
    with pytest.raises(PlotsTemplateError, match="cannot fetch"):
        fetch_library("vega-embed", "6.18.2", tmp_path.as_uri())


def test_the_page_dvc_fills_has_the_libraries_inline_and_no_cdn_tag(tmp_path):
    from dvc_render.html import HTML

    versions = plots_offline.dvc_vega_versions()
    code = {"vega": "var a = {x: 1}; // </script> inside a string", "vega-lite": "var b = 2;", "vega-embed": "var c;"}
    page = HTML(render_template(code, versions)).with_scripts('<script src="https://cdn.example/vega"></script>')
    html = page.with_element("<div id='plot'>spec</div>").embed()
    assert "<div id='plot'>spec</div>" in html and "var b = 2;" in html and "var a = {x: 1};" in html
    assert "https://" not in html and "{plot_divs}" not in html
    assert html.count("</script>") == 3  # a library's own "</script" text is escaped


def test_without_the_registry_the_install_goes_on_and_check_says_so(tmp_path, capsys):
    dvc_dir = tmp_path / ".dvc"
    dvc_dir.mkdir()
    assert plots_offline.main(["--dvc-dir", str(dvc_dir), "--registry", (tmp_path / "none").as_uri()]) == 0
    assert "load its chart libraries from a CDN" in capsys.readouterr().err
    assert plots_offline.main(["--dvc-dir", str(dvc_dir), "--check"]) == 1
    assert not (dvc_dir / plots_offline.TEMPLATE_NAME).exists()
