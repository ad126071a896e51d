"""One SSH connection to a runner host, through asyncssh.

asyncssh rather than the system ``ssh``/``scp``: it reads ``~/.ssh/config`` and checks
``known_hosts`` as OpenSSH does, but reports *why* a connection failed as distinct
exceptions (host key unknown, key refused, host unreachable), carries every command and
SFTP transfer of a run over one connection, and needs no ssh binary on the client.
Remote command lines are always ``sh -c <script>`` with every user-supplied piece
quoted by :func:`shlex.quote`.

Long-running commands run in their own process group on the host (``setsid``) and
record its id, so an interrupted run (Ctrl-C) kills the whole group there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlx.config.runners import SshRunner as SshSpec
from mlx.errors import (
    ExitCode,
    MlxError,
    RemoteAuthFailed,
    RemoteCommandFailed,
    RemoteUnreachable,
)

if TYPE_CHECKING:
    import asyncssh

T = TypeVar("T")

LineFn = Callable[[str], None]
KILL_GRACE_S = 5.0


@dataclass
class Completed:
    status: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 15) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def q(value: str) -> str:
    return shlex.quote(value)


class SshSession:
    """An open connection; use ``async with await SshSession.open(spec) as s``."""

    def __init__(self, conn: asyncssh.SSHClientConnection, label: str, env: dict[str, str]) -> None:
        self._conn = conn
        self._sftp: asyncssh.SFTPClient | None = None
        self.label = label
        self.env = env

    @classmethod
    async def open(cls, spec: SshSpec) -> SshSession:
        import asyncssh

        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        label = f"{spec.user + '@' if spec.user else ''}{spec.host}" + (
            f":{spec.port}" if spec.port else ""
        )
        options: dict[str, Any] = {"connect_timeout": spec.connect_timeout}
        if spec.user:
            options["username"] = spec.user
        if spec.port:
            options["port"] = spec.port
        if spec.identity_file:
            key = Path(spec.identity_file).expanduser()
            if not key.is_file():
                raise RemoteAuthFailed(
                    f"identity file {key} (runner {label}) does not exist",
                    hint="fix identity_file",
                )
            options["client_keys"] = [str(key)]
        known = "~/.ssh/known_hosts"
        if spec.known_hosts:
            path = Path(spec.known_hosts).expanduser()
            if not path.is_file():
                raise RemoteAuthFailed(
                    f"known_hosts file {path} does not exist, so the host key of {label} "
                    "cannot be checked",
                    hint="fix known_hosts, or add the host's key to it",
                )
            options["known_hosts"] = known = str(path)
        try:
            conn = await asyncio.wait_for(
                asyncssh.connect(spec.host, **options), spec.connect_timeout + 5
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise RemoteAuthFailed(
                f"the host key of {label} is not trusted ({exc.reason})",
                hint=f"check the host's key fingerprint out of band, then add it to {known} "
                f"(e.g. from `ssh-keyscan`); mlx never skips host key checking",
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise RemoteAuthFailed(
                f"{label} refused authentication ({exc.reason})",
                hint="check user and identity_file, and that the public key is in the "
                "host's authorized_keys",
            ) from None
        except asyncssh.KeyImportError as exc:
            raise RemoteAuthFailed(f"cannot use the identity file for {label}: {exc}") from None
        except asyncssh.Error as exc:
            raise RemoteUnreachable(f"ssh to {label} failed: {exc.reason}") from None
        except (OSError, asyncio.TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise RemoteUnreachable(
                f"cannot reach {label}: {reason}",
                hint="check host and port, that sshd runs there, and the network",
            ) from None
        return cls(conn, label, dict(spec.env))

    async def __aenter__(self) -> SshSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
        self._conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._conn.wait_closed(), 5)

    # --- commands --------------------------------------------------------------------

    def _command(self, script: str, env: dict[str, str] | None = None) -> str:
        merged = self.env | (env or {})
        prefix = shlex.join(["env", *(f"{k}={v}" for k, v in merged.items())]) + " "
        return (prefix if merged else "") + "sh -c " + q(script)

    async def sh(
        self,
        script: str,
        *,
        env: dict[str, str] | None = None,
        on_stdout: LineFn | None = None,
        on_stderr: LineFn | None = None,
    ) -> Completed:
        """Run a POSIX sh script on the host; stream its lines to the callbacks."""
        import asyncssh

        try:
            proc = await self._conn.create_process(
                self._command(script, env), encoding="utf-8", errors="replace"
            )
        except asyncssh.Error as exc:
            raise RemoteCommandFailed(f"{self.label}: cannot start a command: {exc}") from None
        out: list[str] = []
        err: list[str] = []

        async def pump(stream: Any, sink: LineFn | None, keep: list[str]) -> None:
            async for line in stream:
                if not line:
                    continue
                keep.append(line)
                if sink is not None:
                    sink(line.rstrip("\n"))

        await asyncio.gather(pump(proc.stdout, on_stdout, out), pump(proc.stderr, on_stderr, err))
        await proc.wait()
        status = proc.exit_status
        if status is None or status < 0:  # killed by a signal
            status = 128 + 15
        return Completed(status, "".join(out), "".join(err))

    async def check(self, script: str, what: str, hint: str | None = None, **kw: Any) -> str:
        """Run ``script``; a non-zero exit is a :class:`RemoteCommandFailed` about ``what``."""
        done = await self.sh(script, **kw)
        if done.status != 0:
            raise RemoteCommandFailed(
                f"{what} failed on {self.label} (exit {done.status}):\n{done.tail()}", hint=hint
            )
        return done.stdout

    async def group(self, script: str, pgid_file: str, **kw: Any) -> Completed:
        """Run ``script`` as its own process group on the host. Cancelling this coroutine
        (Ctrl-C) kills the group there, waits for it to go, then re-raises."""
        wrapped = f"echo $$ > {q(pgid_file)}; {script}"
        try:
            return await self.sh("exec setsid -w sh -c " + q(wrapped), **kw)
        except asyncio.CancelledError:
            await asyncio.wait_for(self.kill_group(pgid_file), KILL_GRACE_S + 10)
            raise

    async def kill_group(self, pgid_file: str) -> None:
        """TERM the recorded process group, then KILL it if it lingers (``kill -SIG -PGID``
        without ``--``: dash's builtin rejects ``kill -TERM -- -PGID``)."""
        steps = int(KILL_GRACE_S * 10)
        script = (
            f'pg=$(cat {q(pgid_file)} 2>/dev/null) || exit 0; [ -n "$pg" ] || exit 0; '
            'kill -TERM "-$pg" 2>/dev/null || exit 0; i=0; '
            'while kill -0 "-$pg" 2>/dev/null; do i=$((i+1)); '
            f'if [ $i -ge {steps} ]; then kill -KILL "-$pg" 2>/dev/null; exit 0; fi; '
            "sleep 0.1; done"
        )
        await self.sh(script)

    # --- files -----------------------------------------------------------------------

    async def _client(self) -> asyncssh.SFTPClient:
        import asyncssh

        if self._sftp is None:
            try:
                self._sftp = await self._conn.start_sftp_client()
            except asyncssh.Error as exc:
                raise RemoteCommandFailed(
                    f"{self.label} offers no SFTP ({exc}); mlx transfers files over SFTP",
                    hint="enable the sftp Subsystem in the host's sshd_config",
                ) from None
        return self._sftp

    async def put(self, local: Path, remote: str) -> None:
        await self._transfer("put", str(local), remote)

    async def get(self, remote: str, local: Path) -> None:
        await self._transfer("get", remote, str(local))

    async def _transfer(self, how: str, src: str, dst: str) -> None:
        import asyncssh

        sftp = await self._client()
        try:
            await getattr(sftp, how)(src, dst)
        except (asyncssh.SFTPError, OSError) as exc:
            raise RemoteCommandFailed(
                f"copying {src} → {dst} ({self.label}) failed: {exc}"
            ) from None

    async def write_text(self, remote: str, text: str) -> None:
        sftp = await self._client()
        async with sftp.open(remote, "w", encoding="utf-8") as fh:
            await fh.write(text)

    async def read_text(self, remote: str) -> str | None:
        """A remote file's text, or None when it does not exist."""
        import asyncssh

        sftp = await self._client()
        try:
            async with sftp.open(remote, "r", encoding="utf-8") as fh:
                return await fh.read()
        except asyncssh.SFTPNoSuchFile:
            return None


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code. In the main thread Ctrl-C cancels it (so remote
    clean-up runs) and then surfaces as KeyboardInterrupt; inside a running event loop
    (a notebook) it runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def remote_error(doc: dict[str, Any], where: str) -> MlxError:
    """Rebuild the error a remote mlx raised (same class and exit code when possible)."""
    import mlx.errors as errors

    message = f"{doc.get('message', 'unknown error')} (on {where})"
    cls = getattr(errors, str(doc.get("type")), None)
    err: MlxError | None = None
    if isinstance(cls, type) and issubclass(cls, MlxError):
        try:
            err = cls(message, hint=doc.get("hint"), details=doc.get("details"))
        except TypeError:  # a class with its own constructor
            err = None
    if err is None:
        err = MlxError(message, hint=doc.get("hint"), details=doc.get("details"))
    try:
        err.exit_code = ExitCode(int(doc.get("exit_code", 1)))
    except ValueError:
        err.exit_code = ExitCode.CHECK_FAILED
    return err
