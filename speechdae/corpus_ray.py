"""`speechdae denoise IN... --out-dir OUT --ray`: the folder mode's files spread over a Ray cluster.

Which files go to which outputs (mirroring, --skip-existing) is decided once, on the driver, by
`commands.denoise.denoise_plan`, exactly as without --ray; this module only runs that list. Each Ray actor
(`DenoiseWorker`) loads the model once and then denoises whole files with `enhance.denoise_file` (so outputs
are atomic and identical to the single-process command's); a file is never split. Workers read and write the
paths themselves, so inputs and outputs must be on a filesystem that every node mounts at the same path: the
driver checks this before any work (each worker must see the first input and a marker file the driver puts
in the output folder). Ray is imported only here, and only when --ray is used.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from .errors import SpeechDAEError

log = logging.getLogger(__name__)

INSTALL_HINT = "--ray needs Ray: pip install 'speechdae[ray]' (or pip install 'ray>=2.9')"
SHARED_FS = "--ray needs the inputs and outputs on a filesystem that every node mounts at the same path"
IN_FLIGHT = 2  # files queued per worker, so a worker never waits for the driver between files


class DenoiseWorker:
    """One per Ray worker process: the model is loaded once, then whole files are denoised one at a time."""

    def __init__(self, model: str | None, device: str, threads: int | None, atten_limit: float | None,
                 plot: bool):
        self.spec = (model, device, threads)
        self.atten_limit, self.plot = atten_limit, plot
        self.model = None
        self.host = socket.gethostname()

    def _load(self):
        if self.model is None:  # on first use, so that a bad checkpoint comes back as a message, not a crash
            from .checkpoint import load_model
            from .threads import set_threads

            model, device, threads = self.spec
            set_threads(threads)
            self.model = load_model(model, device=device)
        return self.model

    def hello(self, probes: list[str]) -> dict:
        """Load the model and check that this node sees the driver's files: {host, threads, missing, error}."""
        import torch

        try:
            self._load()
        except SpeechDAEError as e:
            return {"host": self.host, "error": str(e)}
        except Exception as e:  # e.g. torch's RuntimeError for a device this node does not have
            return {"host": self.host, "error": f"cannot load the model on {self.spec[1]} ({_first_line(e)})"}
        return {"host": self.host, "threads": torch.get_num_threads(), "error": None,
                "missing": [p for p in probes if not os.path.exists(p)]}

    def denoise(self, src: str, dst: str) -> tuple[float, str | None]:
        """(seconds of audio, None) when done, (0, the one-line reason) when the file was skipped."""
        from .enhance import denoise_file

        if not os.path.exists(src):
            return 0.0, f"{src}: not found on {self.host} ({SHARED_FS})"
        try:
            info = denoise_file(self._load(), src, dst, atten_limit_db=self.atten_limit)
            if self.plot:
                from .plot import plot_denoising

                plot_denoising(src, dst, Path(dst).with_suffix(".png"))
        except SpeechDAEError as e:
            return 0.0, str(e)
        return info["seconds"], None


def _count(n, noun: str) -> str:
    """`2 workers`, `1 thread`, `1/2 threads` (workers that report different counts)."""
    if isinstance(n, list):
        return f"{'/'.join(map(str, n))} {noun}{'s' if n != [1] else ''}"
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def _reachable(address: str, timeout: float = 10.0):
    """Fail in seconds when nothing listens at HOST:PORT: ray.init itself retries for many minutes."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise SpeechDAEError(f"--ray {address}: give auto or a Ray address HOST:PORT (e.g. 10.0.0.1:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise SpeechDAEError(f"--ray {address}: no Ray cluster answers there ({e.strerror or 'timed out'}); "
                             "start one with `ray start --head` or use --ray auto") from None


def _connect(ray, address: str) -> bool:
    """Connect this process to Ray; True when we did (and so must disconnect), False when it already was."""
    if address != "auto" and Path(address).exists():  # `--ray in1/ in2/` takes in1/ as the address
        raise SpeechDAEError(f"--ray {address}: that is a file or folder, not a Ray address; "
                             "write --ray auto, or put --ray after the inputs")
    if ray.is_initialized():  # e.g. a program that called ray.init() itself, then cli.main()
        return False
    quiet = {"logging_level": logging.ERROR}  # Ray's start-up notices are not the user's business here
    if address == "auto":  # our auto: join a running cluster (RAY_ADDRESS or this machine's), else start one
        try:
            ray.init(address="auto", **quiet)
        except ConnectionError:
            ray.init(address="local", include_dashboard=False, **quiet)
        return True
    _reachable(address)
    try:
        ray.init(address=address, **quiet)
    except Exception as e:  # Ray raises ConnectionError, ValueError, RuntimeError... for a bad address
        raise SpeechDAEError(f"--ray {address}: cannot connect to a Ray cluster there ({_first_line(e)})") from None
    return True


def _workers(ray, args, files: int) -> tuple[int, dict]:
    """How many workers and the resources each asks for; an error when the cluster cannot hold them."""
    threads = getattr(args, "threads", None) or 1
    gpu = str(args.device).startswith("cuda")
    per = {"num_cpus": threads, "num_gpus": 1 if gpu else 0}
    have = ray.cluster_resources()
    fits = int(have.get("GPU", 0)) if gpu else int(have.get("CPU", 0) // threads)
    n = args.ray_workers if args.ray_workers is not None else min(max(fits, 1), files)
    if n < 1:
        raise SpeechDAEError(f"--ray-workers {n}: give at least 1")
    if n > fits:
        need = f"{n} GPUs" if gpu else f"{n * threads} CPUs ({n} x {threads} threads)"
        has = f"{int(have.get('GPU', 0))} GPUs" if gpu else f"{int(have.get('CPU', 0))} CPUs"
        raise SpeechDAEError(f"--ray-workers {n} needs {need}; the Ray cluster has {has}")
    return n, per


def _start(ray, args, n: int, per: dict) -> list:
    """Start n workers with the command's options (paths absolute: a worker's working folder is its own)."""
    model = None if args.model in (None, "", "default") else os.path.abspath(args.model)
    worker = ray.remote(DenoiseWorker).options(max_restarts=1, max_task_retries=1, **per)
    return [worker.remote(model, args.device, getattr(args, "threads", None), args.atten_limit, args.plot)
            for _ in range(n)]


def _check(ray, actors, todo) -> list[dict]:
    """Each worker loaded the model and sees the first input and a marker the driver put in the output folder."""
    out_dir = todo[0][1].parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        marker = tempfile.NamedTemporaryFile(dir=out_dir, prefix=".speechdae-ray-probe-")
    except OSError as e:
        raise SpeechDAEError(f"{out_dir}: cannot write here ({e.strerror})") from None
    with marker:
        try:
            hellos = ray.get([a.hello.remote([os.path.abspath(todo[0][0]), marker.name]) for a in actors])
        except ray.exceptions.RayError as e:
            raise SpeechDAEError(f"Ray workers did not start ({_first_line(e)}); speechdae must be installed "
                                 "on every node, in the same Python") from None
    for h in hellos:
        if h["error"]:
            raise SpeechDAEError(f"worker on {h['host']}: {h['error']}")
        if h["missing"]:
            raise SpeechDAEError(f"worker on {h['host']} cannot see {h['missing'][0]}: {SHARED_FS}")
    log.debug("ray workers: %s", hellos)
    return hellos


def _run(ray, actors, todo, quiet: bool) -> tuple[int, list[str], float, float]:
    """Keep every worker IN_FLIGHT files busy until the list is done: (done, failures, audio s, wall s)."""
    from tqdm import tqdm

    jobs, pending, failed, done, audio = list(reversed(todo)), {}, [], 0, 0.0
    busy = {k: 0 for k in range(len(actors))}  # live workers -> files queued on them
    start = time.perf_counter()

    def top_up():
        for k in busy:
            while jobs and busy[k] < IN_FLIGHT:
                src, dst = job = jobs.pop()
                pending[actors[k].denoise.remote(os.path.abspath(src), os.path.abspath(dst))] = (k, job)
                busy[k] += 1

    top_up()
    # disable=None: drawn only on a terminal, so logs and pipes stay clean.
    with tqdm(total=len(todo), unit="file", desc="ray", disable=True if quiet else None) as bar:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            k, (src, dst) = pending.pop(ref)
            try:
                seconds, error = ray.get(ref)
                busy[k] -= 1
            except ray.exceptions.RayActorError as e:  # the worker died, after one restart and retry
                if k not in busy:  # it was already given up on: this file was only queued there
                    jobs.append((src, dst))
                    top_up()
                    continue
                del busy[k]
                seconds, error = 0.0, f"{src}: the Ray worker died while denoising it ({_first_line(e)})"
            if error:
                log.warning("skipped: %s", error)
                failed.append(error)
            else:
                done, audio = done + 1, audio + seconds
                if not quiet:
                    bar.write(f"{src} -> {dst}", file=sys.stdout)
            top_up()
            bar.set_postfix_str(f"failed {len(failed)}, {audio / (time.perf_counter() - start):.0f} audio h/h",
                                refresh=False)
            bar.update()
    if jobs:
        raise SpeechDAEError(f"every Ray worker died; {len(jobs)} files not done (rerun with --skip-existing)")
    return done, failed, audio, time.perf_counter() - start


def denoise_on_ray(todo: list[tuple[Path, Path]], args) -> tuple[int, list[str]]:
    """Denoise the (input, output) pairs on Ray with the command's options: (files done, failure reasons)."""
    try:
        import ray
        import ray.exceptions
    except ImportError:
        raise SpeechDAEError(INSTALL_HINT) from None
    if not todo:  # everything exists already (--skip-existing): no cluster needed
        return 0, []
    connected = _connect(ray, args.ray)
    actors = []
    try:
        n, per = _workers(ray, args, len(todo))
        actors = _start(ray, args, n, per)
        hellos = _check(ray, actors, todo)
        done, failed, audio, wall = _run(ray, actors, todo, args.quiet)
        if not args.quiet:  # the threads as each worker reports them, not as asked for
            threads = sorted({h["threads"] for h in hellos})
            nodes = len({h["host"] for h in hellos})
            print(f"ray: {_count(n, 'worker')}, {_count(threads, 'thread')} each, on {_count(nodes, 'node')}: "
                  f"{audio / 3600:.2f} audio hours in {wall:.1f} s, {audio / max(wall, 1e-9):.0f} audio hours "
                  "per hour")
        return done, failed
    finally:
        for a in actors:  # free their CPUs now, for whatever runs next on a shared cluster
            ray.kill(a)
        if connected:
            ray.shutdown()  # stops the local cluster if this command started it
