"""`ConmonRuntime`: the real `OCIRuntime`, runc (or crun) driven through conmon, as CRI-O does.

conmon is started in its own session so it outlives the agent: the agent can crash or restart and
its containers keep running, their output still written (CRI log format) and their exit codes
still recorded in the exit directory, where a restarted agent finds them. `_OCI_SYNCPIPE` carries
the container's pid (or the runtime's error) back from conmon once `runc create` is done.

conmon always asks its runtime to `create`; the OCI split between create and start is there for
a manager that acts in between. When nothing does, `run` hands conmon a small generated script
(`run-detached`) in place of the runtime, which turns that `create` into `run --detach`: one runtime
process (and one read of the mount table) per container fewer, the biggest single cost of starting
one on a busy node. A state directory on a noexec filesystem cannot hold that script; there `run`
creates and then starts.

Every runtime process (through conmon or directly) runs with `procs.go_program_env`, so with
`GOMAXPROCS=1` unless the agent's own environment sets it: runc is a Go program that lives for tens
of milliseconds (measured: 7 % of the CPU of each `runc run` on a 2-core node). Containers never
see the variable: a container's process gets the environment of its spec, nothing of the runtime's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import shlex
import shutil
import signal as signals
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podfleet import mounts, procs
from podfleet.files import write_atomic
from podfleet.mounts import Mount
from podfleet.runtime.attach import ConmonAttachment
from podfleet.runtime.interface import ContainerRuntimeError, ContainerState, ExecResult, StdinMode
from podfleet.runtime.streamed_process import StreamedProcess

log = logging.getLogger("podfleet.runtime")


def _started_at(cdir: Path) -> dt.datetime | None:
    """When the agent saw the container start (its `started` file), if it did."""
    try:
        return dt.datetime.fromisoformat((cdir / "started").read_text().strip())
    except (OSError, ValueError):
        return None


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError:
        return None


class ConmonRuntime:
    def __init__(self, state_dir: Path, *, runtime: str = "runc", conmon: str = "conmon") -> None:
        self.state_dir = state_dir
        self.runtime_path = shutil.which(runtime) or runtime
        self.conmon_path = shutil.which(conmon) or conmon
        self.root = state_dir / "runc"  # the runtime's own state (--root)
        self.exits = state_dir / "exits"
        self.socks = state_dir / "sock"
        self.meta = state_dir / "containers"
        for d in (self.root, self.exits, self.socks, self.meta):
            d.mkdir(parents=True, exist_ok=True)
        self.run_detached: Path | None = None
        if os.statvfs(state_dir).f_flag & os.ST_NOEXEC:  # conmon could not run the script from here
            log.warning("state directory is on a noexec filesystem: containers are created, then started",
                        extra={"dir": str(state_dir)})
        else:
            self.run_detached = write_run_detached(state_dir / "run-detached", self.runtime_path)
        # conmon's and the runtime's environment, made once: copying os.environ per container is slow
        self._env = procs.go_program_env(os.environ)
        # container id -> (start time, pid) of a container seen running: neither changes while it
        # runs, and pod workers and status reports ask for every container's state on every sync.
        self._running: dict[str, tuple[dt.datetime, int]] = {}

    @property
    def name(self) -> str:
        return os.path.basename(self.runtime_path)

    async def version(self) -> str:
        out = await self._run_runtime("--version", check=False)
        first = out[1].decode().splitlines()[0] if out[1] else ""
        return f"{self.name}://{first.split()[-1] if first else 'unknown'}"

    async def _run_runtime(self, *args: str, check: bool = True, timeout: float = 30) -> tuple[int, bytes, bytes]:
        try:
            res = await procs.run([self.runtime_path, "--root", str(self.root), *args], env=self._env,
                                  timeout=timeout)
        except procs.ProgramTimeout as e:
            raise ContainerRuntimeError(str(e)) from None
        if check and not res.ok:
            raise ContainerRuntimeError(f"{self.name} {' '.join(args[:2])}: {res.error_text()}")
        return res.returncode, res.stdout, res.stderr

    def _cdir(self, cid: str) -> Path:
        return self.meta / cid

    async def create(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                     rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        return await self._conmon(container_id, bundle, spec, log_path, self.runtime_path, rootfs_mount, stdin)

    async def run(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                  rootfs_mount: Mount | None = None, stdin: StdinMode = StdinMode.NONE) -> int:
        if self.run_detached is None:
            pid = await self.create(container_id, bundle, spec, log_path, rootfs_mount, stdin)
            try:
                await self.start(container_id)
            except ContainerRuntimeError:
                await self.delete(container_id)
                raise
            return pid
        pid = await self._conmon(container_id, bundle, spec, log_path, str(self.run_detached), rootfs_mount,
                                 stdin)
        self._mark_started(container_id)
        return pid

    async def _conmon(self, container_id: str, bundle: Path, spec: dict[str, Any], log_path: Path,
                      runtime: str, rootfs_mount: Mount | None, stdin: StdinMode) -> int:
        self._running.pop(container_id, None)  # a container of the same id before this one
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(spec))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cdir = self._cdir(container_id)
        cdir.mkdir(parents=True, exist_ok=True)
        (cdir / "bundle").write_text(str(bundle))
        (cdir / "log").write_text(str(log_path))
        with contextlib.suppress(FileNotFoundError):
            (self.exits / container_id).unlink()
        r, w = os.pipe()
        argv = [self.conmon_path, "--api-version", "1", "-c", container_id, "-u", container_id,
                "-n", container_id, "-r", runtime, "-b", str(bundle),
                "-p", str(cdir / "pidfile"), "--conmon-pidfile", str(cdir / "conmon.pid"),
                "--exit-dir", str(self.exits), "-l", f"k8s-file:{log_path}", "--log-level", "warning",
                "--socket-dir-path", str(self.socks), "--runtime-arg", f"--root={self.root}", "--syslog"]
        if (spec.get("process") or {}).get("terminal"):
            argv.append("--terminal")
        if stdin is not StdinMode.NONE:
            argv.append("--stdin")
        if stdin is StdinMode.OPEN:
            argv.append("--leave-stdin-open")
        # conmon starts in its own session (it outlives us); `w` is handed to it and closed here.
        conmon = asyncio.ensure_future(procs.run(argv, env={**self._env, "_OCI_SYNCPIPE": str(w)}, pass_fds=(w,),
                                                 new_session=True, capture=False, timeout=60,
                                                 setup=None if rootfs_mount is None else _own_mounts(rootfs_mount)))
        try:
            data = await asyncio.wait_for(_read_line(r), 60)
        finally:
            os.close(r)
        try:
            err = (await conmon).stderr
        except (OSError, procs.ProgramTimeout) as e:
            err = str(e).encode()
        try:
            msg = json.loads(data.decode().splitlines()[0]) if data.strip() else {}
        except ValueError:
            msg = {}
        pid = int(msg.get("data", -1)) if isinstance(msg.get("data"), int) else -1
        if pid <= 0:
            why = msg.get("message") or err.decode(errors="replace").strip() or "conmon reported no pid"
            await self.delete(container_id)
            raise ContainerRuntimeError(_clean_error(str(why)))
        return pid

    async def start(self, container_id: str) -> None:
        await self._run_runtime("start", container_id)
        self._mark_started(container_id)

    def _mark_started(self, container_id: str) -> None:
        (self._cdir(container_id) / "started").write_text(dt.datetime.now(dt.UTC).isoformat())

    async def kill(self, container_id: str, signal: int) -> None:
        code, _, err = await self._run_runtime("kill", container_id, str(signal), check=False)
        if code != 0 and b"not running" not in err and b"does not exist" not in err and b"not exist" not in err:
            log.debug("kill failed", extra={"container": container_id, "error": err.decode(errors="replace")})

    async def delete(self, container_id: str) -> None:
        self._running.pop(container_id, None)
        cdir = self._cdir(container_id)
        if not cdir.exists() and not (self.root / container_id).exists():
            return  # nothing of it exists: spare the runtime call
        await self._run_runtime("delete", "--force", container_id, check=False)
        with contextlib.suppress(OSError, ValueError):
            conmon_pid = int((cdir / "conmon.pid").read_text().strip())
            os.kill(conmon_pid, signals.SIGKILL)
        with contextlib.suppress(OSError):  # the bundle (config.json) we wrote for it
            shutil.rmtree((cdir / "bundle").read_text().strip(), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.exits / container_id).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.socks / container_id).unlink()  # conmon's link to the bundle, for its attach socket
        shutil.rmtree(cdir, ignore_errors=True)

    async def state(self, container_id: str) -> ContainerState | None:
        cdir = self._cdir(container_id)
        if not cdir.exists():
            return None
        fast = self._state_from_files(container_id, cdir)
        if fast is not None:
            return fast
        code, out, _ = await self._run_runtime("state", container_id, check=False)
        started = _started_at(cdir)
        exit_file = self.exits / container_id
        exit_code = None
        if exit_file.exists():
            with contextlib.suppress(ValueError, OSError):
                exit_code = int(exit_file.read_text().strip() or "0")
        if code != 0:
            status = "stopped" if exit_code is not None else "unknown"
            return ContainerState(container_id, status, 0, exit_code, started, _mtime(exit_file))
        st = json.loads(out)
        status = st.get("status", "unknown")
        if status == "stopped" and exit_code is None:
            # conmon may not have written the exit file yet; it does right after reaping.
            for _ in range(20):
                await asyncio.sleep(0.05)
                if exit_file.exists():
                    with contextlib.suppress(ValueError, OSError):
                        exit_code = int(exit_file.read_text().strip() or "0")
                    break
        finished = _mtime(exit_file) if status == "stopped" else None
        return ContainerState(container_id, status, int(st.get("pid") or 0), exit_code, started, finished,
                              dict(st.get("annotations") or {}))

    def _state_from_files(self, container_id: str, cdir: Path) -> ContainerState | None:
        """State without spawning the runtime: conmon's exit file says stopped (with the code);
        a live pid from the pidfile says running. Anything unclear falls back to `runc state`."""
        known = self._running.get(container_id)
        started = known[0] if known is not None else _started_at(cdir)
        exit_file = self.exits / container_id
        with contextlib.suppress(OSError, ValueError):
            code = int(exit_file.read_text().strip() or "0")
            self._running.pop(container_id, None)
            return ContainerState(container_id, "stopped", 0, code, started, _mtime(exit_file))
        if started is None:
            return None  # created-but-not-started: ask the runtime
        try:
            pid = known[1] if known is not None else int((cdir / "pidfile").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            self._running.pop(container_id, None)
            return None
        self._running[container_id] = (started, pid)
        return ContainerState(container_id, "running", pid, None, started, None)

    async def list_containers(self) -> list[ContainerState]:
        states = []
        for cdir in sorted(self.meta.iterdir()) if self.meta.exists() else []:
            st = await self.state(cdir.name)
            if st is not None:
                states.append(st)
        return states

    async def exec_sync(self, container_id: str, argv: list[str], timeout: float) -> ExecResult:
        try:
            res = await procs.run([self.runtime_path, "--root", str(self.root), "exec", container_id, *argv],
                                  env=self._env, timeout=timeout, lane="exec")
        except procs.ProgramTimeout:
            return ExecResult(-1, b"", b"timed out")
        return ExecResult(res.returncode, res.stdout, res.stderr)

    async def exec_stream(self, container_id: str, argv: list[str], *, terminal: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> StreamedProcess:
        st = await self.state(container_id)
        if st is None or st.status != "running":
            raise ContainerRuntimeError(f'container not found ("{container_id}")' if st is None
                                        else "cannot exec in a container that is not running")
        # Per session: the pid of the process in the container (to kill it, not just runc, when
        # the client goes) and runc's own errors, told apart from the command's stderr.
        session = self._cdir(container_id) / f"exec-{os.urandom(6).hex()}"
        session.mkdir()
        pid_file, log_file = session / "pid", session / "runc.log"
        cmd = [self.runtime_path, "--root", str(self.root), "--log", str(log_file), "--log-format", "json",
               "exec", "--pid-file", str(pid_file)]
        if terminal:
            cmd += ["--tty", "--env", "TERM=xterm"]
        cmd += [container_id, *argv]

        def kill(popen: Any) -> None:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signals.SIGKILL)
                return  # runc exits once the process it waits for is gone
            with contextlib.suppress(OSError):  # not started yet: runc and its `runc init`
                os.killpg(popen.pid, signals.SIGKILL)

        def explain(code: int) -> str | None:  # once, when runc has exited
            try:
                msgs = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
            except (OSError, ValueError):
                msgs = []
            finally:
                shutil.rmtree(session, ignore_errors=True)
            errors = [str(m.get("msg", "")) for m in msgs if isinstance(m, dict) and m.get("level") == "error"]
            return _clean_error(errors[-1]) if code != 0 and errors else None

        try:
            return await StreamedProcess.start(cmd, terminal=terminal, stdin=stdin, env=self._env, size=size,
                                               kill=kill, explain=explain)
        except OSError as e:
            shutil.rmtree(session, ignore_errors=True)
            raise ContainerRuntimeError(f"cannot start {self.runtime_path}: {e}") from None

    async def attach(self, container_id: str) -> ConmonAttachment:
        st = await self.state(container_id)
        if st is None or st.status != "running":
            raise ContainerRuntimeError(f'container not found ("{container_id}")' if st is None
                                        else "cannot attach to a container that is not running")
        bundle = Path((self._cdir(container_id) / "bundle").read_text().strip())
        try:
            return await ConmonAttachment.connect(self.socks / container_id, bundle / "ctl")
        except OSError as e:
            raise ContainerRuntimeError(f"cannot attach to container {container_id}: {e}") from None

    def exited_containers(self) -> set[str]:
        try:
            return {p.name for p in self.exits.iterdir()}
        except FileNotFoundError:
            return set()


_RUN_DETACHED = """#!/bin/sh
# Written by podfleet (runtime/oci.py). conmon runs its runtime with "create"; this runs {runtime}
# with the first "create" argument replaced by "run --detach", every other argument unchanged.
swapped=
for arg do
  shift
  if [ -z "$swapped" ] && [ "$arg" = create ]; then
    set -- "$@" run --detach
    swapped=1
  else
    set -- "$@" "$arg"
  fi
done
exec {runtime} "$@"
"""


def write_run_detached(path: Path, runtime_path: str) -> Path:
    """The runtime stand-in `ConmonRuntime.run` gives conmon; rewritten on every start (atomically:
    a conmon may be running it), so it always names the runtime this agent was configured with."""
    write_atomic(path, _RUN_DETACHED.format(runtime=shlex.quote(runtime_path)), 0o755)
    return path


def _own_mounts(rootfs: Mount) -> Callable[[], None]:
    """Setup for the thread conmon starts from: a mount namespace for the container (its conmon,
    runtime and processes) holding its root filesystem, which the host never sees mounted."""
    cwd = os.getcwd()

    def setup() -> None:
        mounts.enter_private_mount_namespace()
        rootfs.perform_here()
        os.chdir(cwd)

    return setup


async def _read_line(fd: int) -> bytes:
    """conmon's first sync-pipe message (one JSON line), read in the loop: a thread blocked on the
    pipe for the whole `runc create` would starve the small default executor under a burst."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    ready: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                await ready
                ready = loop.create_future()
                continue
            chunks.append(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return b"".join(chunks)
    finally:
        loop.remove_reader(fd)


def _clean_error(msg: str) -> str:
    """runc's create errors are long and nested; keep the part that says what went wrong."""
    for marker in ('exec: "', "executable file not found", "no such file or directory"):
        if marker in msg:
            i = msg.find("exec:")
            return msg[i:] if i >= 0 else msg
    return msg
