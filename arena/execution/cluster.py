"""Where the arena's Ray actors run: an embedded local instance, or an existing cluster.

The default needs no set-up: ``connect()`` starts a private Ray instance on this machine with
its CPUs (``address="local"``, so a ``ray start`` cluster that happens to run here is never
joined by accident). ``connect("HOST:PORT")``, or ``$RAY_ADDRESS``, joins an existing cluster
started with ``ray start --head``; every node then needs this package installed, and LLM
players get bases and adapters from a shared workspace path or by content hash
(``arena.execution.artifacts``). If Ray is already initialised in this process (a test
session, a notebook), that instance is reused and left running.

Ending: SIGTERM to the driver raises ``Terminated`` (``ray.init`` installs a C++ handler that
printed a stack trace; ``connect`` takes SIGTERM back), so a night records its state, shuts Ray
down and stops with one line; an embedded instance's processes die with the driver even after a
``kill -9`` (``reaper``).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from games import InputError

logger = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C (a night records the interrupted stage as failed, writes
    its report and stays resumable); the CLI says so in one line. Ray turns an exception
    raised inside ``ray.get`` into a plain KeyboardInterrupt, so ``terminated`` also says it."""


terminated = False  # set by the SIGTERM handler (see Terminated)


def _raise_terminated(signum, frame) -> None:
    global terminated
    terminated = True
    raise Terminated("terminated by SIGTERM")


def take_sigterm() -> None:
    """SIGTERM raises ``Terminated`` in this process (main thread only; call it after
    ``ray.init``, whose own handler prints a C++ stack trace and kills the process)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@dataclass(frozen=True)
class ClusterInfo:
    """What ``connect`` found or started.

    Attributes:
        address: the GCS address of the cluster (``HOST:PORT``).
        mode: ``"embedded"`` (started here), ``"cluster"`` (joined) or ``"reused"``.
        nodes: alive nodes.
        cpus: total logical CPUs.
        gpus: total GPUs.
    """

    address: str
    mode: str
    nodes: int
    cpus: float
    gpus: float

    @property
    def owned(self) -> bool:
        """True when this process started the instance and must shut it down."""
        return self.mode != "reused"

    def describe(self) -> str:
        return (
            f"Ray {self.mode} at {self.address}: {self.nodes} node(s), "
            f"{self.cpus:g} CPU(s), {self.gpus:g} GPU(s)"
        )


def _quiet() -> None:
    # Ray's own start-up chatter goes to its log files, not the terminal (workers' output too:
    # ``log_to_driver=False``); errors still surface as exceptions in the driver.
    for name in ("ray", "ray._private", "ray.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _info(mode: str) -> ClusterInfo:
    import ray

    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    context = ray.get_runtime_context()
    address = getattr(context, "gcs_address", None) or "?"
    return ClusterInfo(
        address=address,
        mode=mode,
        nodes=nodes,
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
    )


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
) -> ClusterInfo:
    """Start or join Ray for an arena run.

    Args:
        address: ``HOST:PORT`` of a running cluster's head; None uses ``$RAY_ADDRESS`` if
            set, else starts an embedded instance on this machine.
        num_cpus: logical CPUs of the embedded instance (default: this machine's cores). The
            caller may ask for more than the cores to oversubscribe; ignored for a cluster.
        num_gpus: GPUs of the embedded instance (default: Ray's detection).

    Raises:
        InputError: the cluster at ``address`` cannot be reached.
    """
    import ray

    _quiet()
    if ray.is_initialized():
        if address:
            logger.warning("Ray is already initialised in this process; ignoring %s", address)
        return _info("reused")
    address = address or os.environ.get("RAY_ADDRESS") or None
    common = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address:
        _probe(address)
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
            hint = ""
            if not os.environ.get("RAY_AUTH_MODE"):
                hint = (
                    " (if the cluster uses token authentication, set RAY_AUTH_MODE=token and "
                    "the token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
                )
            raise InputError(f"cannot join the Ray cluster at {address}: {message}{hint}") from None
        info = _info("cluster")
    else:
        ray.init(
            address="local",
            num_cpus=num_cpus if num_cpus is not None else os.cpu_count() or 1,
            num_gpus=num_gpus,
            include_dashboard=False,
            **common,
        )
        from arena.execution import reaper

        reaper.watch()  # its processes die with this one, even after a kill -9
        info = _info("embedded")
    take_sigterm()  # after this process's ray.init (a reused instance returned earlier)
    logger.info("%s", info.describe())
    return info


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return  # "auto", "ray://...", ...: let Ray interpret it
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(
            f"cannot reach the Ray head at {address}: {reason}. Start one with "
            "`ray start --head --port PORT`, or leave out --address (and $RAY_ADDRESS) to run "
            "on this machine"
        ) from None


def disconnect(info: ClusterInfo) -> None:
    """Shut Ray down if ``connect`` started or joined it in this process."""
    import ray

    if info.owned and ray.is_initialized():
        ray.shutdown()
    if info.mode == "embedded":
        from arena.execution import reaper

        reaper.stop()
