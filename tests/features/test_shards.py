"""Feature shards: atomic writes, header-only scans, ranged reads, the Kedro dataset."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.datasets.feature_shards import FeatureShardsDataset
from omnihuman_pipeline.features.shards import FeatureStore, PendingEntry


def _pending(clip_id: str, kind: str = "video") -> PendingEntry:
    return PendingEntry(clip_id, kind, f"h-{clip_id}", "patchify",
                        {"latents": torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4),
                         "mask": torch.tensor([True, False]), "x": torch.randn(3, dtype=torch.bfloat16)},
                        {"frames": 5})


def test_round_trip_and_entries_from_headers(tmp_path):
    """Written entries come back from the headers alone and their tensors bit-exactly (bf16, bool, uint8)."""
    store = FeatureShardsDataset(filepath=str(tmp_path / "shards")).load()
    written = store.write_shard([_pending("a"), _pending("b")]) + store.write_shard([_pending("c", "text")])
    fresh = FeatureStore.at(str(tmp_path / "shards"))
    entries = fresh.entries()
    assert [(e.clip_id, e.kind, e.meta) for e in entries] == [("a", "video", {"frames": 5}), ("b", "video", {"frames": 5}),
                                                            ("c", "text", {"frames": 5})]
    assert len(fresh.shards()) == 2 and entries == written
    for entry, pending in zip(entries, [_pending("a"), _pending("b"), _pending("c")], strict=True):
        got = fresh.read(entry)
        assert torch.equal(got["latents"], pending.tensors["latents"]) and got["mask"].dtype == torch.bool
        assert got["x"].dtype == torch.bfloat16
    only = fresh.read(entries[1], ["mask"], blob=fresh.read_blob(entries[1].shard))
    assert list(only) == ["mask"] and only["mask"].tolist() == [True, False]


def test_interrupted_write_leaves_no_shard(tmp_path):
    """A leftover temporary file is not a shard and `clean` removes it."""
    store = FeatureStore.at(str(tmp_path))
    store.write_shard([_pending("a")])
    (tmp_path / "00000001-deadbeef.safetensors.tmp-123").write_bytes(b"partial")
    assert len(store.shards()) == 1 and len(store.entries()) == 1
    assert store.clean() == 1 and len(list(tmp_path.iterdir())) == 1


def test_dataset_describes_and_exists(tmp_path):
    """The Kedro dataset exists once a shard is written and refuses `save`."""
    ds = FeatureShardsDataset(filepath=str(tmp_path / "s"))
    assert not ds.exists()
    ds.load().write_shard([_pending("a")])
    assert ds.exists() and ds._describe()["protocol"] == "file"


def test_store_on_a_remote_filesystem():
    """The same store works through fsspec's in-memory filesystem (the object-storage code path)."""
    store = FeatureStore.at("memory://features-test/shards")
    [entry] = store.write_shard([_pending("a")])
    fresh = FeatureStore.at("memory://features-test/shards")
    assert fresh.entries() == [entry] and torch.equal(fresh.read(entry)["latents"], _pending("a").tensors["latents"])
    fresh.remove(fresh.shards())
    assert fresh.shards() == []


def test_read_rows_is_a_ranged_read_of_the_first_axis(tmp_path):
    """Rows start:stop of a tensor equal the whole tensor's slice, from disk and from a blob; bad ranges raise."""
    store = FeatureStore.at(str(tmp_path / "shards"))
    latents = torch.arange(5 * 3 * 2, dtype=torch.float32).reshape(5, 3, 2)
    [entry] = store.write_shard([PendingEntry("a", "video", "h", "b", {"latents": latents,
                                                                        "x": torch.ones(2, dtype=torch.bfloat16)}, {})])
    assert torch.equal(store.read_rows(entry, "latents", 1, 4), latents[1:4])
    assert torch.equal(store.read_rows(entry, "latents", 2, 5, blob=store.read_blob(entry.shard)), latents[2:5])
    assert store.read_rows(entry, "latents", 3, 3).shape == (0, 3, 2)
    with pytest.raises(IndexError, match="rows 4:6"):
        store.read_rows(entry, "latents", 4, 6)


def _damage(store: FeatureStore, entry, name: str, offset: int = 0, length: int = 4) -> None:
    """Overwrite bytes inside one tensor of a shard, leaving its header intact."""
    header = store.header(entry.shard)
    a, b = header["tensors"][entry.tensors[name]]["data_offsets"]
    path = store.path(entry.shard)
    data = bytearray(open(path, "rb").read())
    start = header["data_start"] + a + offset
    data[start:start + length] = bytes((x ^ 0xFF) for x in data[start:start + length])
    open(path, "wb").write(bytes(data))


def test_damaged_tensor_bytes_fail_their_checksums_in_whole_and_ranged_reads(tmp_path):
    """Flipped bytes inside a tensor (header intact) raise CorruptFeatureError naming shard, clip and tensor;
    rows a ranged read does not cover, and the other clips, still read."""
    from omnihuman_pipeline.features.shards import CorruptFeatureError

    store = FeatureStore.at(str(tmp_path / "shards"))
    a, b = store.write_shard([_pending("a"), _pending("b")])
    _damage(store, a, "latents", offset=12, length=2)  # inside row 1 of [2, 3, 4] uint8
    fresh = FeatureStore.at(str(tmp_path / "shards"))
    a, b = fresh.entries()
    with pytest.raises(CorruptFeatureError, match=r"shards/0+-\w+\.safetensors: the bytes of a/video/latents"):
        fresh.read(a)
    with pytest.raises(CorruptFeatureError):
        fresh.read_rows(a, "latents", 1, 2)
    assert torch.equal(fresh.read_rows(a, "latents", 0, 1), _pending("a").tensors["latents"][:1])
    assert torch.equal(fresh.read(b)["latents"], _pending("b").tensors["latents"])
    assert fresh.read(a, ["mask"])["mask"].tolist() == [True, False]


def test_shards_are_named_by_their_content(tmp_path):
    """The same entries written to two stores get the same shard name; other content gets another."""
    same = _pending("a")
    names = [FeatureStore.at(str(tmp_path / d)).write_shard([same])[0].shard for d in ("x", "y")]
    other = FeatureStore.at(str(tmp_path / "z")).write_shard([_pending("b")])[0].shard
    assert names[0] == names[1] != other
