"""`python -m omnihuman_pipeline.weights verify`: the manifest check of every configured weights key."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from omnihuman_pipeline import weights
from omnihuman_pipeline.weights import KNOWN_WEIGHTS, WeightSpec, main, verify_entry

GOOD_BYTES = b"official weights\n"
GOOD_SHA = hashlib.sha256(GOOD_BYTES).hexdigest()
WRONG_BYTES = b"another file\n"
FOLDER_CONFIG = {"_class_name": "AutoencoderKLWan", "z_dim": 16}


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A manifest of five keys and a weights.yml: a good file, a wrong file, a missing path, two folders."""
    (tmp_path / "good.pth").write_bytes(GOOD_BYTES)
    (tmp_path / "wrong.pth").write_bytes(WRONG_BYTES)
    for name, z_dim in [("good_vae", 16), ("bad_vae", 4)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({**FOLDER_CONFIG, "z_dim": z_dim}))
    manifest = {
        "good_file": WeightSpec("good_file", "good.pth", "here", sha256=GOOD_SHA, needed_by=("curate",)),
        "wrong_file": WeightSpec("wrong_file", "good.pth", "here", sha256=GOOD_SHA, needed_by=("evaluate",)),
        "gone": WeightSpec("gone", "gone.pth", "here", sha256=GOOD_SHA),
        "good_folder": WeightSpec("good_folder", "vae/", "here", config=FOLDER_CONFIG, needed_by=("features",)),
        "bad_folder": WeightSpec("bad_folder", "vae/", "here", config=FOLDER_CONFIG),
        "unset": WeightSpec("unset", "unset.pth", "here", sha256=GOOD_SHA),
    }
    monkeypatch.setattr(weights, "KNOWN_WEIGHTS", manifest)
    paths = {"good_file": "good.pth", "wrong_file": "wrong.pth", "gone": "gone.pth", "good_folder": "good_vae",
             "bad_folder": "bad_vae"}
    yml = tmp_path / "weights.yml"
    yml.write_text(yaml.safe_dump({"weights": {k: str(tmp_path / v) for k, v in paths.items()}}))
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(yml))
    for key in manifest:
        monkeypatch.delenv(f"OMNIHUMAN_WEIGHTS_{key.upper()}", raising=False)
    return tmp_path


def _rows(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, dict[str, dict]]:
    code = main(argv)
    return code, {row["key"]: row for row in json.loads(capsys.readouterr().out)}


def test_verify_rows_and_exit_code(setup: Path, capsys: pytest.CaptureFixture) -> None:
    """Each configured key gets its exact status; a missing or mismatched key makes the exit code 1."""
    code, rows = _rows(capsys, ["verify", "--json"])
    assert code == 1
    assert {k: (r["found"], r["check"]) for k, r in rows.items()} == {
        "good_file": (True, "ok (sha256)"),
        "wrong_file": (True, f"mismatch: sha256 {hashlib.sha256(WRONG_BYTES).hexdigest()[:16]}… "
                             f"!= expected {GOOD_SHA[:16]}…"),
        "gone": (False, "missing: no such file or folder"),
        "good_folder": (True, "ok (config.json)"),
        "bad_folder": (True, "mismatch: config.json z_dim = 4 (expected 16)"),
        "unset": (None, "not configured"),
    }
    assert rows["good_file"]["sha256"] == GOOD_SHA
    assert rows["good_file"]["needed_by"] == ["curate"]


def test_verify_table(setup: Path, capsys: pytest.CaptureFixture) -> None:
    """The table has the five columns and one line per key; `--key` limits the check (exit 0 when all pass)."""
    assert main(["verify"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["key", "path", "found", "check", "needed", "by"]
    assert len(lines) == 1 + len(weights.KNOWN_WEIGHTS)
    assert re.search(r"^good_folder\s+\S+good_vae\s+yes\s+ok \(config\.json\)\s+features$", "\n".join(lines), re.M)
    assert main(["verify", "--key", "good_file", "--key", "good_folder"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["good_file", "good_folder"]


def test_environment_overrides_the_file(setup: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    """`OMNIHUMAN_WEIGHTS_<KEY>` wins over weights.yml, as in `resolve`."""
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_WRONG_FILE", str(setup / "good.pth"))
    code, rows = _rows(capsys, ["verify", "--json", "--key", "wrong_file"])
    assert (code, rows["wrong_file"]["check"]) == (0, "ok (sha256)")


def test_unknown_key_is_refused(setup: Path) -> None:
    """A `--key` that is neither known nor configured is a usage error."""
    with pytest.raises(SystemExit) as err:
        main(["verify", "--key", "nope"])
    assert err.value.code == 2


def test_sha256_prefix(tmp_path: Path) -> None:
    """A torch.hub-style prefix (the file name's 8 hex digits) is checked and reported as a prefix check."""
    file = tmp_path / "net.pth"
    file.write_bytes(GOOD_BYTES)
    spec = WeightSpec("net", "net.pth", "here", sha256=GOOD_SHA[:8])
    assert verify_entry(spec, file).check == "ok (sha256 prefix)"
    other = WeightSpec("net", "net.pth", "here", sha256="6726825d")
    assert verify_entry(other, file).check == f"mismatch: sha256 {GOOD_SHA[:8]} != expected 6726825d"
    assert KNOWN_WEIGHTS["inception_fid"].sha256 == "6726825d"


def test_unknown_checksum_is_never_ok(tmp_path: Path) -> None:
    """A file whose official sha256 is unknown (e.g. syncnet_v2.model) is `not checked`, whatever its bytes."""
    file = tmp_path / "syncnet_v2.model"
    file.write_bytes(GOOD_BYTES)
    result = verify_entry(KNOWN_WEIGHTS["syncnet"], file)
    assert (result.status, result.check) == ("not checked", "not checked: official sha256 unknown")
    assert verify_entry(WeightSpec("x", "x", "here", size=len(GOOD_BYTES)), file).status == "not checked"
    assert verify_entry(WeightSpec("x", "x", "here", size=3), file).check.startswith("mismatch: size")


def test_folder_without_config_and_file_for_folder(tmp_path: Path) -> None:
    """A folder key without config.json, or given a file, is a mismatch."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.bin").write_bytes(GOOD_BYTES)
    spec = KNOWN_WEIGHTS["vae"]
    assert verify_entry(spec, tmp_path / "empty").check == "mismatch: no config.json in the folder"
    assert verify_entry(spec, tmp_path / "file.bin").check == "mismatch: a file where a model folder is expected"


def test_wan_transformer_of_either_size_passes(tmp_path: Path) -> None:
    """`wan_t2v` compares only the fields the 1.3B and 14B configs share."""
    common = {"_class_name": "WanTransformer3DModel", "in_channels": 16, "out_channels": 16, "text_dim": 4096,
              "patch_size": [1, 2, 2]}
    sizes = {"1.3B": {"num_layers": 30, "num_attention_heads": 12, "ffn_dim": 8960},
             "14B": {"num_layers": 40, "num_attention_heads": 40, "ffn_dim": 13824}}
    for name, fields in sizes.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({**common, **fields}))
        assert verify_entry(KNOWN_WEIGHTS["wan_t2v"], tmp_path / name).status == "ok"
    (tmp_path / "1.3B" / "config.json").write_text(json.dumps({**common, "_class_name": "UNet2DConditionModel"}))
    assert verify_entry(KNOWN_WEIGHTS["wan_t2v"], tmp_path / "1.3B").check == (
        "mismatch: config.json _class_name = 'UNet2DConditionModel' (expected 'WanTransformer3DModel')")


def test_whisper_checksums(tmp_path: Path) -> None:
    """An official Whisper file name is checked against openai-whisper's sha256; another name is not checked."""
    file = tmp_path / "tiny.en.pt"
    file.write_bytes(GOOD_BYTES)
    assert verify_entry(KNOWN_WEIGHTS["whisper"], file).status == "mismatch"
    (tmp_path / "finetuned.pt").write_bytes(GOOD_BYTES)
    assert verify_entry(KNOWN_WEIGHTS["whisper"], tmp_path / "finetuned.pt").status == "not checked"
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        pytest.skip("openai-whisper is not installed")
    urls = re.findall(r"https://\S+/([0-9a-f]{64})/([\w.-]+\.pt)", Path(spec.origin).read_text())
    assert {name: sha for sha, name in urls} == weights.WHISPER_SHA256


def test_manifest_covers_every_resolved_key() -> None:
    """Every key the package resolves has a manifest entry naming the pipelines that need it."""
    src = Path(weights.__file__).parent
    pattern = re.compile(r"""(?:resolve\(|WEIGHTS_KEY = )["'](\w+)["']""")
    used = {m for f in src.rglob("*.py") if f.name != "weights.py" for m in pattern.findall(f.read_text())}
    used |= set(re.findall(r"^\s+key: (\w+)", (src.parents[1] / "conf/base/catalog_train.yml").read_text(), re.M))
    assert used <= set(KNOWN_WEIGHTS)
    assert all(KNOWN_WEIGHTS[k].needed_by for k in used)


def test_module_runs_with_dash_m(tmp_path: Path) -> None:
    """`python -m omnihuman_pipeline.weights verify` runs; nothing configured exits 0."""
    env = {"OMNIHUMAN_WEIGHTS_FILE": str(tmp_path / "none.yml"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "omnihuman_pipeline.weights", "verify", "--key", "vae"],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].split()[:4] == ["vae", "-", "-", "not"]


def test_umt5_folder_or_repository_root(tmp_path: Path) -> None:
    """`umt5` is checked in its folder or, given the repository root, in `text_encoder/`."""
    encoder = tmp_path / "text_encoder"
    encoder.mkdir(parents=True)
    (encoder / "config.json").write_text(json.dumps(
        {"architectures": ["UMT5EncoderModel"], "model_type": "umt5", "d_model": 4096, "num_layers": 24}))
    assert verify_entry(KNOWN_WEIGHTS["umt5"], encoder).check == "ok (config.json)"
    assert verify_entry(KNOWN_WEIGHTS["umt5"], tmp_path).check == "ok (text_encoder/config.json)"
    (encoder / "config.json").write_text(json.dumps({"architectures": ["T5EncoderModel"], "model_type": "t5"}))
    assert verify_entry(KNOWN_WEIGHTS["umt5"], tmp_path).check == (
        "mismatch: text_encoder/config.json architectures = ['T5EncoderModel'] (expected ['UMT5EncoderModel']); "
        "model_type = 't5' (expected 'umt5'); d_model absent (expected 4096); num_layers absent (expected 24)")


def test_hash_with_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The chunked hash (with its stderr progress bar forced on) equals hashlib's digest of the whole file."""
    file = tmp_path / "big.bin"
    file.write_bytes(GOOD_BYTES * 1000)
    assert weights.sha256_of(file, progress=True) == hashlib.sha256(GOOD_BYTES * 1000).hexdigest()
    assert "sha256 big.bin" in capsys.readouterr().err
