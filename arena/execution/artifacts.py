"""Artifacts by content: how bases, adapters and datasets reach nodes that do not see the
workspace (``--artifacts ship``), and how a run decides whether they need to (``auto``).

Two modes, recorded in every run's manifest and in the night's report:

- ``shared``: every node sees the workspace at the same path (NFS, one machine); workers open
  bases and adapters there. The cheaper default wherever it holds.
- ``ship``: only the driver reads or writes the workspace. It *publishes* each local base,
  adapter and dataset a run needs as a content-addressed object: an ``ArtifactRef`` lists the
  files with their sha256 (``training.manifest.sha256_file``, the hash every manifest records)
  and its key is the sha256 of that listing. A small actor on the driver's node
  (``ArtifactServer``) serves the published files in byte ranges; each node fetches them
  through Ray's object store into its local cache (``arena.execution.cache``), verifies every
  hash and loads from there. A base named by a hub id is not published: every node fetches it
  from the hub itself, so the driver is never the bottleneck for it.
- ``auto``: an embedded (single-machine) Ray is ``shared``; on a cluster the driver writes a
  marker file with a random token into the workspace and every alive node reads it back: all
  of them see it -> ``shared``, else ``ship``.

Registry references (``llm:BASE@v3``, ``@champion``) are resolved on the driver when a run
starts (``Publisher.seats``), so workers in ship mode never need the registry; an agent on
``@champion`` then keeps the champion of the run's start for the whole run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from games import InputError, load_game
from training.manifest import sha256_file

logger = logging.getLogger(__name__)
MODES = ("auto", "shared", "ship")
CHUNK_BYTES = 8 << 20  # one byte range the server returns (an object in Ray's store)
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact: its path inside the artifact, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArtifactRef:
    """A published artifact, small enough to travel with every job.

    Attributes:
        key: sha256 of the listing (``kind``, ``name``, every file's path, size, sha256).
        name: the folder or file name (a node's copy keeps it: an adapter's version label
            and a base's name come from it, as on the driver).
        kind: ``folder`` or ``file``.
        files: the listing, sorted by path (one entry named ``name`` for a file).
        origin: the driver's path (reports; results are mapped back to it).
    """

    key: str
    name: str
    kind: str
    files: tuple[FileEntry, ...]
    origin: str

    @property
    def nbytes(self) -> int:
        return sum(f.size for f in self.files)

    def expected_key(self) -> str:
        return listing_key(self.kind, self.name, self.files)

    def check(self) -> None:
        """A listing that does not hash to its key was damaged in transit: refuse it."""
        if self.expected_key() != self.key:
            raise RuntimeError(f"artifact {self.name}: listing does not match key {self.key}")


def listing_key(kind: str, name: str, files: Iterable[FileEntry]) -> str:
    listing = [kind, name, [[f.path, f.size, f.sha256] for f in files]]
    return hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode()).hexdigest()


_DESCRIBED: dict[tuple, ArtifactRef] = {}
_DESCRIBED_LOCK = threading.Lock()


def describe(path: str | Path) -> ArtifactRef:
    """The ``ArtifactRef`` of a file or folder (every file below it, except hidden ones).

    Hashes are memoised per (path, sizes, mtimes) in this process, so a base of several GB
    is read once per driver, not once per run of a night.
    """
    root = Path(path).expanduser().resolve()
    if root.is_file():
        found = [(root.name, root)]
        kind = "file"
    elif root.is_dir():
        found = sorted(
            (p.relative_to(root).as_posix(), p)
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        kind = "folder"
    else:
        raise InputError(f"cannot publish {root}: no such file or folder")
    stats = tuple((rel, p.stat().st_size, p.stat().st_mtime_ns) for rel, p in found)
    memo = (str(root), kind, stats)
    with _DESCRIBED_LOCK:
        if memo in _DESCRIBED:
            return _DESCRIBED[memo]
    files = tuple(FileEntry(rel, size, sha256_file(p)) for (rel, p), (_, size, _) in
                  zip(found, stats, strict=True))  # fmt: skip
    ref = ArtifactRef(listing_key(kind, root.name, files), root.name, kind, files, str(root))
    with _DESCRIBED_LOCK:
        _DESCRIBED[memo] = ref
    return ref


class ArtifactServer:
    """The actor on the driver's node that serves published files in byte ranges.

    It only reads what was published to it (by key and file index, never a path from the
    caller), and returns each range as a numpy byte array, which Ray stores once in the
    object store and a reader on the same node maps without a copy.
    """

    def __init__(self):
        self._entries: dict[str, tuple[Path, ArtifactRef]] = {}

    def add(self, ref: ArtifactRef) -> None:
        self._entries[ref.key] = (Path(ref.origin), ref)

    def read(self, key: str, index: int, offset: int, length: int):
        import numpy as np

        if key not in self._entries:
            raise KeyError(f"artifact {key} was not published to this server")
        if not 0 < length <= 8 * CHUNK_BYTES:
            raise ValueError(f"byte ranges are 1 to {8 * CHUNK_BYTES} bytes, not {length}")
        root, ref = self._entries[key]
        path = root if ref.kind == "file" else root / ref.files[index].path
        with path.open("rb") as handle:
            handle.seek(offset)
            return np.frombuffer(handle.read(length), dtype=np.uint8)


@dataclass(frozen=True)
class SeatArtifacts:
    """What a node needs to build one LLM seat (``llm:BASE[@ADAPTER]``, or a ``search:`` over
    one) from its cache.

    Attributes:
        base: the published base folder, or None for a hub base (``hub``).
        hub: the hub id every node loads itself.
        adapter: the published adapter folder (None: the bare base).
        ref: the registry reference of the spec (``v3``, ``champion``), resolved on the driver.
        version: the version label it resolved to (``v0`` for the bare base).
    """

    base: ArtifactRef | None
    hub: str | None = None
    adapter: ArtifactRef | None = None
    ref: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ShipContext:
    """Sent with every chunk of a shipping run: the server and each LLM seat's artifacts,
    keyed by (game spec, agent spec)."""

    server: object
    seats: dict


class Publisher:
    """The driver's side: one ``ArtifactServer`` per driver process and Ray session."""

    _current: Publisher | None = None

    def __init__(self):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.session = _session()
        node = ray.get_runtime_context().get_node_id()
        self.server = (
            ray.remote(ArtifactServer)
            .options(
                num_cpus=0,
                max_concurrency=8,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            )
            .remote()
        )
        self._published: set[str] = set()

    @classmethod
    def get(cls) -> Publisher:
        """The publisher of this Ray session (a new one after Ray restarts, or when the server
        no longer answers)."""
        import ray

        current = cls._current
        if current is not None and current.session == _session():
            try:
                ray.get(current.server.__ray_ready__.remote(), timeout=60)
                return current
            except (ray.exceptions.RayError, TimeoutError):
                logger.warning("the artifact server is gone; starting another one")
        cls._current = Publisher()
        return cls._current

    def publish(self, path: str | Path) -> ArtifactRef:
        """Hash ``path`` (memoised) and let the server serve it; returns its reference."""
        import ray

        ref = describe(path)
        if ref.key not in self._published:
            ray.get(self.server.add.remote(ref))
            self._published.add(ref.key)
        return ref

    def seats(self, jobs, workspace) -> ShipContext:
        """Resolve and publish every LLM seat of ``jobs`` (registry references included)."""
        from agents import parse_spec

        wanted = dict.fromkeys((job.game, spec) for job in jobs for spec in job.seats)
        seats = {
            (game, spec): self.seat(load_game(game).spec, spec, workspace)
            for game, spec in wanted
            if parse_spec(spec).kind in ("llm", "search")
        }
        return ShipContext(self.server, seats)

    def seat(self, game: str, spec: str, workspace) -> SeatArtifacts:
        from agents import parse_spec
        from agents.llm.model_io import resolve_base
        from agents.spec import is_registry_ref
        from arena.registry.resolve import resolve_for_agents

        parsed = parse_spec(spec)
        parsed = parsed.inner if parsed.kind == "search" else parsed  # the prior's LLM
        base = resolve_base(parsed.base, workspace)
        published = self.publish(base.ident) if base.local else None
        hub = None if base.local else base.ident
        adapter = parsed.adapter
        if adapter is None:
            return SeatArtifacts(published, hub)
        if is_registry_ref(adapter):
            row = resolve_for_agents(parsed.base, adapter, game, workspace)
            folder = self.publish(row.path) if row.path is not None else None
            return SeatArtifacts(published, hub, folder, adapter, row.version)
        folder = Path(adapter).expanduser()
        if not folder.is_dir():
            raise InputError(f"adapter '{adapter}' of '{spec}' is not a folder on the driver")
        return SeatArtifacts(published, hub, self.publish(folder))


def _session() -> str:
    import ray

    context = ray.get_runtime_context()
    return f"{getattr(context, 'gcs_address', '')}/{context.get_job_id()}"


# ------------------------------------------------------------------------ choosing the mode


@dataclass(frozen=True)
class ModeChoice:
    """The mode a run uses and why (manifests and the night's report)."""

    mode: str
    reason: str

    def to_dict(self) -> dict:
        return {"mode": self.mode, "reason": self.reason}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"--artifacts must be one of {', '.join(MODES)}, got '{mode}'")
    return mode


def choose_mode(mode: str, workspace, cluster) -> ModeChoice:
    """``shared`` or ``ship`` for ``mode`` (``auto`` probes every node, see the docstring)."""
    check_mode(mode)
    if mode != "auto":
        return ModeChoice(mode, "configured")
    if cluster is not None and cluster.mode == "embedded":
        return ModeChoice("shared", "auto: Ray runs on this machine only")
    if workspace is None:
        return ModeChoice("shared", "auto: no workspace to ship from")
    from games.workspace import Workspace

    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    blind = nodes_without(root)
    if not blind:
        return ModeChoice("shared", "auto: every node sees the workspace")
    return ModeChoice("ship", f"auto: {len(blind)} node(s) do not see the workspace ({blind[0]})")


_PROBED: dict[tuple, list[str]] = {}


def nodes_without(root: Path, timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """The alive nodes that do not read back a marker the driver writes into ``root``
    (asked again whenever the set of alive nodes changes, else remembered)."""
    import ray

    nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
    memo = (_session(), str(root), tuple(nodes))
    if memo not in _PROBED:
        _PROBED[memo] = _probe(root, nodes, timeout_s)
    return _PROBED[memo]


def _probe(root: Path, nodes: list[str], timeout_s: float) -> list[str]:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = secrets.token_hex(16)
    marker = root / ".arena-probe" / f"{token}.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    try:
        probe = ray.remote(num_cpus=0, max_retries=0)(_reads_marker)
        refs = [
            probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
                str(marker), token
            )
            for n in nodes
        ]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        seen = {r: ray.get(r) for r in ready}
        return [f"node {n[:12]}" for n, r in zip(nodes, refs, strict=True) if not seen.get(r)]
    finally:
        marker.unlink(missing_ok=True)


def _reads_marker(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False
