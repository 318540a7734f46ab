"""Feature shards: safetensors files of several clips' tensors, self-describing, written atomically.

Shard format (``omnihuman-features/1``)::

    <root>/<seq:08d>-<blake2b-32 of the content>.safetensors
      tensors   "<clip_id>/<kind>/<name>"      e.g. "abc-000000/video/latents" uint8 [T, 768, h, w]
      metadata  {"omnihuman_features": JSON {"format": ..., "entries": [
                   {"clip_id", "kind", "hash", "backend", "meta": {...}, "tensors": {name: key},
                    "crc32": {name: [CRC-32 of each row of the tensor's first axis]}}, ...]}}

A shard is written to a temporary name and renamed into place, so it is there whole or not at all;
an entry (one clip's one feature kind) is valid exactly when its shard exists. The store's state is
the union of its shard headers: :meth:`FeatureStore.entries` reads only headers (a few KB each, one
ranged read on object storage) and a rerun reuses every entry whose hash is still wanted. Reading a
record is a ranged read per run of that entry's adjacent tensors, through fsspec, so the same code
streams from local disk or object storage (s3://, gs://, ...). Tensors whose first axis is time
(latents stored time-major, audio features, keypoints) can be read a range of frames at a time
(:meth:`FeatureStore.read_rows`): one ranged read of just those rows.

Every read is verified: the header keeps a CRC-32 per row of every tensor (one for a 0-d tensor), so
a whole-tensor read and a ranged read of some rows both check exactly the bytes they return. Damaged
bytes raise :class:`CorruptFeatureError` naming the shard, the clip and the tensor; the training loader
skips such a clip and counts it, as it does a shard whose header is unreadable. Shards written before
the checksums read as before, unverified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
import torch

from omnihuman_pipeline.datasets.result_shards import remove_partial_writes

logger = logging.getLogger(__name__)

FORMAT = "omnihuman-features/1"
META_KEY = "omnihuman_features"
MAX_GAP = 256 * 1024  # bytes a ranged read may skip over to cover two tensors in one request
SUFFIX = ".safetensors"
SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
                      "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "I32": torch.int32,
                      "I64": torch.int64, "BOOL": torch.bool}


@dataclass(frozen=True)
class Entry:
    """One clip's one feature kind inside a shard.

    Attributes:
        clip_id: the clip.
        kind: ``video`` | ``audio`` | ``text`` | ``pose``.
        hash: the per-clip hash it was computed for (kind config + the clip's inputs).
        backend: backend name that made it.
        shard: shard file name (relative to the store root).
        tensors: tensor name -> key in the shard.
        meta: JSON-able facts (shapes, dequantisation, reference frame, ...).
        crc32: tensor name -> CRC-32 of each row of its first axis (empty for shards written before them).
    """

    clip_id: str
    kind: str
    hash: str
    backend: str
    shard: str
    tensors: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    crc32: dict[str, list[int]] = field(default_factory=dict)


class CorruptFeatureError(ValueError):
    """A tensor's bytes in a shard do not match the checksums its header recorded."""


def row_checksums(data: bytes | memoryview, rows: int) -> list[int]:
    """CRC-32 of each of ``rows`` equal slices of ``data`` (one for ``rows == 0``, a 0-d tensor)."""
    if rows <= 0:
        return [zlib.crc32(data)]
    view, size = memoryview(data), len(data) // rows
    return [zlib.crc32(view[i * size:(i + 1) * size]) for i in range(rows)]


def entry_of(r: dict, shard: str) -> Entry:
    """The :class:`Entry` of one header record of ``shard``."""
    return Entry(r["clip_id"], r["kind"], r["hash"], r["backend"], shard, r["tensors"], r["meta"], r.get("crc32", {}))


@dataclass
class PendingEntry:
    """An entry before it is written: its tensors in memory."""

    clip_id: str
    kind: str
    hash: str
    backend: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]


def _to_tensor(value) -> torch.Tensor:
    t = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
    return t.contiguous()


class FeatureStore:
    """A folder of feature shards (local or any fsspec protocol).

    Args:
        fs: the filesystem.
        root: folder path on `fs`.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str):
        self.fs, self.root = fs, root.rstrip("/")
        self._headers: dict[str, dict] = {}

    @classmethod
    def at(cls, url: str, **storage_options) -> FeatureStore:
        """A store at a path or URL (``data/04_feature/shards``, ``s3://bucket/shards``)."""
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        return cls(fs, root)

    def path(self, shard: str) -> str:
        return f"{self.root}/{shard}"

    def shards(self) -> list[str]:
        """Shard file names, oldest first."""
        if not self.fs.exists(self.root):
            return []
        names = [PurePosixPath(p).name for p in self.fs.ls(self.root, detail=False)]
        return sorted(n for n in names if n.endswith(SUFFIX) and ".tmp-" not in n)

    def write_shard(self, pending: list[PendingEntry]) -> list[Entry]:
        """Write `pending` entries as one shard, atomically; return them as stored entries."""
        from safetensors.torch import save

        shards = self.shards()
        seq = int(shards[-1].split("-")[0]) + 1 if shards else 0
        tensors: dict[str, torch.Tensor] = {}
        records = []
        for p in pending:
            keys, crcs = {}, {}
            for tname, value in p.tensors.items():
                key = f"{p.clip_id}/{p.kind}/{tname}"
                tensors[key] = _to_tensor(value)
                keys[tname] = key
                t = tensors[key]
                crcs[tname] = row_checksums(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"",
                                            t.shape[0] if t.ndim else 0)
            records.append({"clip_id": p.clip_id, "kind": p.kind, "hash": p.hash, "backend": p.backend,
                            "meta": p.meta, "tensors": keys, "crc32": crcs})
        blob = save(tensors, metadata={META_KEY: json.dumps({"format": FORMAT, "entries": records},
                                                            default=_json_default)})
        # named by its content: the same features written again get the same name
        name = f"{seq:08d}-{hashlib.blake2b(blob, digest_size=4).hexdigest()}{SUFFIX}"
        self.fs.makedirs(self.root, exist_ok=True)
        tmp = f"{self.path(name)}.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as f:
            f.write(blob)
        self.fs.mv(tmp, self.path(name))
        return [entry_of(r, name) for r in records]

    def header(self, shard: str) -> dict:
        """Parsed safetensors header of a shard (cached): ``{"tensors", "data_start", "entries"}``."""
        if shard not in self._headers:
            with self.fs.open(self.path(shard), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                raw = json.loads(f.read(n))
            meta = json.loads((raw.pop("__metadata__", None) or {}).get(META_KEY, "{}"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{self.path(shard)}: not an {FORMAT} shard")
            self._headers[shard] = {"tensors": raw, "data_start": 8 + n, "entries": meta["entries"]}
        return self._headers[shard]

    def entries(self) -> list[Entry]:
        """Every entry of every shard, in write order (a later entry of the same clip/kind/hash wins)."""
        out = []
        for shard in self.shards():
            try:
                header = self.header(shard)
            except (ValueError, OSError, struct.error, json.JSONDecodeError) as err:
                logger.warning("skipping unreadable shard %s: %s", shard, err)
                continue
            out += [entry_of(r, shard) for r in header["entries"]]
        return out

    def read(self, entry: Entry, names: list[str] | None = None, blob: bytes | None = None) -> dict[str, torch.Tensor]:
        """An entry's tensors: one ranged read per run of nearby tensors (or slices of `blob`, the whole shard).

        Tensors closer than ``MAX_GAP`` bytes share a read; farther apart (another clip's latents between
        a text entry's states and mask, say) they are read separately, so no read carries what it skips.
        """
        header = self.header(entry.shard)
        keys = {n: entry.tensors[n] for n in (names or entry.tensors)}
        spans = sorted((header["tensors"][k]["data_offsets"], n) for n, k in keys.items())
        out = {}
        start, run = header["data_start"], []
        for i, (span, name) in enumerate(spans):
            run.append((span, name))
            if i + 1 < len(spans) and spans[i + 1][0][0] - span[1] <= MAX_GAP:
                continue
            lo, hi = run[0][0][0], max(s[1] for s, _ in run)
            data = blob[start + lo:start + hi] if blob is not None else (
                self.fs.cat_file(self.path(entry.shard), start=start + lo, end=start + hi) if hi > lo else b"")
            for (a, b), n in run:
                info = header["tensors"][keys[n]]
                dtype = SAFETENSORS_DTYPES[info["dtype"]]
                self._verify(entry, n, data[a - lo:b - lo], 0, info["shape"][0] if info["shape"] else 0)
                out[n] = (torch.empty(info["shape"], dtype=dtype) if b == a else
                          torch.frombuffer(bytearray(data[a - lo:b - lo]), dtype=dtype).reshape(info["shape"]))
            run = []
        return {n: out[n] for n in keys}

    def read_rows(self, entry: Entry, name: str, start: int, stop: int, blob: bytes | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of an entry's tensor (its first axis): one ranged read of those rows only."""
        header = self.header(entry.shard)
        info = header["tensors"][entry.tensors[name]]
        shape, dtype = list(info["shape"]), SAFETENSORS_DTYPES[info["dtype"]]
        if not 0 <= start <= stop <= shape[0]:
            raise IndexError(f"rows {start}:{stop} of {entry.clip_id}/{entry.kind}/{name} with {shape[0]} rows")
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        lo = header["data_start"] + info["data_offsets"][0] + start * row
        hi = lo + (stop - start) * row
        if hi == lo:
            return torch.empty([0, *shape[1:]], dtype=dtype)
        data = blob[lo:hi] if blob is not None else self.fs.cat_file(self.path(entry.shard), start=lo, end=hi)
        self._verify(entry, name, data, start, stop)
        return torch.frombuffer(bytearray(data), dtype=dtype).reshape([stop - start, *shape[1:]])

    def _verify(self, entry: Entry, name: str, data: bytes, start: int, stop: int) -> None:
        """Check the bytes of rows ``start:stop`` of a tensor (``0, 0``: a 0-d tensor) against the header."""
        expected = entry.crc32.get(name)
        if expected is None:
            return
        want = expected[start:stop] if stop > start else expected[:1]
        if row_checksums(data, stop - start) != want:
            raise CorruptFeatureError(f"{self.path(entry.shard)}: the bytes of {entry.clip_id}/{entry.kind}/{name} "
                                      "do not match their checksums (damaged shard); re-run the features pipeline")

    def read_blob(self, shard: str) -> bytes:
        """A whole shard in one read (sequential streaming)."""
        return self.fs.cat_file(self.path(shard))

    def remove(self, shards: list[str]) -> None:
        for shard in shards:
            self.fs.rm(self.path(shard))
            self._headers.pop(shard, None)

    def clean(self) -> int:
        """Remove temporary files left by a killed writer; return how many."""
        return remove_partial_writes(self.fs, self.root)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
