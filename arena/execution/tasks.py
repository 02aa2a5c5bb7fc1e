"""One Ray task whose inputs and outputs are files (the night's training run), in either
artifact mode.

``shared``: the task reads its inputs and writes its output folder at the paths of its config.
``ship``: the driver publishes the input files and folders named by the config
(``Publisher.publish``); on its node the task fetches them into the node's cache, runs with
the config pointing there and its output in a scratch folder, maps the node's paths in the
output's ``manifest.json`` and in its result back to the driver's, and returns the output files
as bytes with their sha256. The driver checks every file's hash, and the manifest's own record
of its outputs, before writing the folder into the workspace (``games.files.atomic_dir``: a
temporary folder, fsynced, renamed into place), so that a registered adapter is byte for byte
what was trained. The node keeps nothing but its cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path, PurePosixPath

from games.files import atomic_dir


def run_task(
    func: Callable[..., dict],
    args: tuple,
    config: dict,
    *,
    ship: bool,
    inputs: Sequence[str],
    out: str,
    ray_options: dict,
    waiting: Callable[[float], None] = lambda seconds: None,
    poll_s: float = 20.0,
) -> dict:
    """``func(*args, config)`` as a Ray task with ``ray_options``; returns its result.

    Args:
        config: the task's config as a dict; ``inputs`` name its path fields that must reach
            the node (unset ones are skipped), ``out`` the field of its output folder.
        ship: ship mode (see the module docstring); the result then also says ``node``.
        waiting: called every ``poll_s`` seconds with the seconds the task has run.
    """
    import ray

    if not ship:
        ref = ray.remote(**ray_options)(func).remote(*args, config)
        return _wait(ref, waiting, poll_s)
    from arena.execution.artifacts import Publisher

    publisher = Publisher.get()
    refs = {name: publisher.publish(config[name]) for name in inputs if config.get(name)}
    body = ray.remote(**ray_options)(_shipped_task)
    answer = _wait(body.remote(func, args, config, refs, out, publisher.server), waiting, poll_s)
    receive(answer["files"], Path(config[out]))
    return {**answer["result"], "node": answer["node"], "cache": answer["cache"]}


def _wait(ref, waiting: Callable[[float], None], poll_s: float):
    import ray

    started = time.monotonic()
    while not ray.wait([ref], timeout=poll_s)[0]:
        waiting(time.monotonic() - started)
    return ray.get(ref)


def _shipped_task(func, args: tuple, config: dict, refs: dict, out: str, server) -> dict:
    """The task's body on its node in ship mode."""
    import ray

    from arena.execution.cache import node_cache

    cache = node_cache()
    config, mapping = dict(config), {}
    scratch = Path(tempfile.mkdtemp(prefix="arena-task-"))
    try:
        for name, ref in refs.items():
            local = cache.fetch(ref, server)
            mapping[str(local)] = config[name]
            config[name] = str(local)
        local_out = scratch / Path(config[out]).name
        mapping[str(local_out)] = config[out]
        config[out] = str(local_out)
        result = func(*args, config)
        manifest = local_out / "manifest.json"
        if manifest.is_file():
            data = remap(json.loads(manifest.read_text()), mapping)
            manifest.write_text(json.dumps(data, indent=1) + "\n")
        files = pack(local_out)
    finally:
        cache.release()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "result": remap(result, mapping),
        "files": files,
        "node": ray.get_runtime_context().get_node_id(),
        "cache": asdict(cache.stats),
    }


def remap(value, mapping: dict[str, str]):
    """``value`` with every string that is (or lies below) a key of ``mapping`` rewritten."""
    if isinstance(value, str):
        for local in sorted(mapping, key=len, reverse=True):
            if value == local or value.startswith(local + "/"):
                return mapping[local] + value[len(local) :]
        return value
    if isinstance(value, dict):
        return {k: remap(v, mapping) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [remap(v, mapping) for v in value]
    return value


def pack(folder: Path) -> list[tuple[str, bytes, str]]:
    """Every file below ``folder``: (relative path, bytes, sha256)."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out.append((path.relative_to(folder).as_posix(), data, hashlib.sha256(data).hexdigest()))
    return out


def receive(files: list[tuple[str, bytes, str]], out: Path) -> None:
    """Verify what a node sent (each file's sha256, and the outputs its manifest records) and
    write it as folder ``out`` (replacing an older one, as a training with overwrite does)."""
    received = {}
    for rel, data, digest in files:
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts or not rel:
            raise RuntimeError(f"a node sent a file outside its output folder: {rel!r}")
        if hashlib.sha256(data).hexdigest() != digest:
            raise RuntimeError(f"{rel} from the node does not match its sha256; not written")
        received[rel] = digest
    if "manifest.json" in received:
        data = dict((rel, blob) for rel, blob, _ in files)["manifest.json"]
        for entry in json.loads(data).get("outputs", []):
            try:
                rel = Path(entry["path"]).relative_to(out).as_posix()
            except ValueError:
                raise RuntimeError(f"the manifest records an output outside {out}") from None
            if received.get(rel) != entry["sha256"]:
                raise RuntimeError(f"{rel}: the manifest records sha256 {entry['sha256'][:12]}, "
                                   "the node sent other bytes; not written")  # fmt: skip
    with atomic_dir(out, overwrite=True) as incoming:  # fsynced, then renamed into place
        for rel, data, _ in files:
            (incoming / rel).parent.mkdir(parents=True, exist_ok=True)
            (incoming / rel).write_bytes(data)
