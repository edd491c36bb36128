"""Stage and check the MCP Bundle (.mcpb) of this server; `.ci/mcpb.sh` and the tests both use it.

    python mcpb/stage.py stage DIR [--deps bundle|none] [--platform TAG --python-version X.Y]
    python mcpb/stage.py check DIR [--python PYTHON] [--isolated]

``stage`` lays out DIR as the bundle `mcpb pack` zips: ``manifest.json`` (this directory's,
its version checked against pyproject.toml), ``server/main.py`` (the entry point) and
``server/lib``. With ``--deps bundle`` (the default) ``server/lib`` is this package and all
its dependencies as pip installs them for one Python version and platform: this
interpreter's, or ``--platform``/``--python-version`` for another one (binary wheels only,
pip's cross-platform download). Compiled dependencies (pydantic-core, rpds-py) only load on
the Python and platform they were built for, so the staged manifest's ``compatibility`` is
narrowed to that target, and ``server/bundle.json`` records it for the entry point's error
message. ``--deps none`` copies only this package's sources, for tests that run the bundle
with an interpreter that already has the dependencies.

``check`` starts the staged (or unpacked) bundle the way the host app would: the manifest's
``mcp_config`` with ``${__dirname}`` and every ``${user_config.KEY}`` substituted (defaults,
or placeholders for required values), ``--sandbox`` appended so no account is needed. It
speaks MCP over stdio (initialize, tools/list) and fails unless every tool the manifest
declares is listed. ``--isolated`` runs ``python -I -S``: no site-packages, so everything
must come from the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGE = "truto_stripe_mcp"
SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")
PLACEHOLDERS = {"string": "bundle-check", "number": "0", "boolean": "false"}
"""Stand-ins for required user_config values that have no default (``check`` only)."""


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def load_manifest(directory: Path = HERE) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


def target_os(pip_platform: str | None) -> str:
    """The manifest's platform name (Node's ``process.platform``) for a pip platform tag."""
    if pip_platform is None:
        return sys.platform
    if pip_platform.startswith("macosx"):
        return "darwin"
    if pip_platform.startswith("win"):
        return "win32"
    if "linux" in pip_platform:
        return "linux"
    raise SystemExit(f"stage: unknown platform tag {pip_platform!r} (macosx_*, win_*, manylinux*_*)")


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise SystemExit(f"stage: {' '.join(command[1:4])} ... failed with exit code {result.returncode}")


def _prune(lib: Path) -> None:
    """Drop what the bundle cannot use: console scripts with this machine's shebangs, caches."""
    shutil.rmtree(lib / "bin", ignore_errors=True)
    for cache in list(lib.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def stage(
    out: Path, deps: str = "bundle", pip_platform: str | None = None, python: str | None = None
) -> Path:
    manifest = load_manifest()
    version = pyproject_version()
    if manifest["version"] != version:
        raise SystemExit(
            f"stage: mcpb/manifest.json version {manifest['version']} != pyproject.toml {version}"
        )
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"stage: {out} is not empty")
    if deps not in {"bundle", "none"}:
        raise SystemExit(f"stage: --deps must be bundle or none (got {deps!r})")
    if deps == "none" and (pip_platform or python):
        raise SystemExit("stage: --platform/--python-version need --deps bundle")
    server = out / "server"
    lib = server / "lib"
    lib.mkdir(parents=True)
    shutil.copy2(HERE / "server" / "main.py", server / "main.py")

    host = "{}.{}".format(*sys.version_info[:2])
    python = python or host
    target = {"python": python, "platform": target_os(pip_platform), "deps": deps}
    if deps == "bundle":
        cross = ["--platform", pip_platform] if pip_platform else []
        if pip_platform or python != host:
            cross += ["--python-version", python, "--implementation", "cp"]
        with tempfile.TemporaryDirectory(prefix="truto-mcpb-wheel-") as scratch:
            # A wheel of this checkout first (pip's --platform mode installs wheels only), built
            # from a copy so that the build leaves nothing in the checkout.
            source, wheels = Path(scratch) / "source", Path(scratch) / "wheels"
            source.mkdir()
            for name in ("pyproject.toml", "README.md"):
                shutil.copy2(ROOT / name, source / name)
            shutil.copytree(ROOT / PACKAGE, source / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
            _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source))
            (wheel,) = wheels.glob("*.whl")
            _pip(
                "install",
                "--quiet",
                "--no-compile",
                "--only-binary=:all:",
                "--target",
                str(lib),
                *cross,
                str(wheel),
            )
        target["pip_platform"] = pip_platform or "this machine"
        major, minor = (int(part) for part in python.split("."))
        compatibility = manifest.setdefault("compatibility", {})
        compatibility["platforms"] = [target["platform"]]
        compatibility.setdefault("runtimes", {})["python"] = f">={major}.{minor}.0 <{major}.{minor + 1}.0"
    else:
        shutil.copytree(ROOT / PACKAGE, lib / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _prune(lib)
    (server / "bundle.json").write_text(json.dumps(target, indent=2) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def launch_command(
    bundle: Path,
    python: str,
    *,
    isolated: bool = False,
    user_config: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = ("--sandbox",),
) -> tuple[list[str], dict[str, str]]:
    """The manifest's mcp_config resolved as the host app would, run by ``python``.

    ``user_config`` holds what the user typed; other keys take their defaults (or, for a
    required key without one, a placeholder that suits the sandbox).
    """
    manifest = load_manifest(bundle)
    config = manifest["server"]["mcp_config"]
    values: dict[str, str] = {"__dirname": str(bundle)}
    for key, option in manifest.get("user_config", {}).items():
        default = option.get("default")
        if user_config and key in user_config:
            values[f"user_config.{key}"] = user_config[key]
        elif isinstance(default, bool):
            values[f"user_config.{key}"] = "true" if default else "false"
        elif default is not None:
            values[f"user_config.{key}"] = str(default)
        else:
            values[f"user_config.{key}"] = PLACEHOLDERS[option["type"]]
    unknown = set(user_config or ()) - set(manifest.get("user_config", {}))
    if unknown:
        raise SystemExit(f"check: no user_config {sorted(unknown)} in the manifest")

    def resolve(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise SystemExit(f"check: the manifest uses ${{{match.group(1)}}}, which nothing defines")
            return values[match.group(1)]

        return SUBSTITUTION.sub(one, text)

    # The manifest's command is whatever `python3` the user has; here it is the given one.
    command = [python, *(["-I", "-S"] if isolated else []), *map(resolve, config.get("args", []))]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRUTO_", "PYTHON"))}
    env.update({key: resolve(value) for key, value in config.get("env", {}).items()})
    return [*command, *extra_args], env


def check(
    bundle: Path, python: str = sys.executable, *, isolated: bool = False, timeout: float = 30.0
) -> int:
    """Start the bundle on the sandbox and list its tools over stdio; 0 when it works."""
    bundle = bundle.resolve()
    manifest = load_manifest(bundle)
    command, env = launch_command(bundle, python, isolated=isolated)
    with tempfile.TemporaryFile("w+") as errlog, tempfile.TemporaryDirectory() as cache_dir:
        # A check is not a user's server: it keeps any catalog copy and its shared state out of
        # the user's cache and state directories.
        env["TRUTO_MCP_CACHE_DIR"] = cache_dir
        env["TRUTO_MCP_STATE"] = f"sqlite:///{Path(cache_dir) / 'state.sqlite3'}"
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True, env=env
        )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout

        def request(message_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
            send({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params})
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise TimeoutError(f"no answer to {method} within {timeout:.0f} s") from None
                message = json.loads(line)
                if message.get("id") == message_id:
                    if "error" in message:
                        raise RuntimeError(f"{method} failed: {message['error']}")
                    return message["result"]

        def send(message: dict[str, Any]) -> None:
            process.stdin.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
            process.stdin.flush()  # type: ignore[union-attr]

        problems: list[str] = []
        try:
            info = request(
                1,
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "mcpb-stage-check", "version": "0"},
                },
            )
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            tools = [tool["name"] for tool in request(2, "tools/list", {})["tools"]]
            server_info = info.get("serverInfo", {})
            if server_info.get("version") != manifest["version"]:
                problems.append(
                    f"server version {server_info.get('version')} != manifest {manifest['version']}"
                )
            missing = [tool["name"] for tool in manifest.get("tools", []) if tool["name"] not in tools]
            if missing:
                problems.append(f"tools the manifest declares but the server does not list: {missing}")
            print(
                f"bundle check: {' '.join(command[:2])} ... --sandbox: initialize ok "
                f"({server_info.get('name')} {server_info.get('version')}, protocol {info.get('protocolVersion')}), "
                f"tools/list {len(tools)} tools, {len(manifest.get('tools', [])) - len(missing)}"
                f"/{len(manifest.get('tools', []))} manifest tools present"
            )
        except (TimeoutError, RuntimeError, ValueError, KeyError, BrokenPipeError) as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            process.stdin.close()  # type: ignore[union-attr]
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            errlog.seek(0)
            stderr = errlog.read()
    for problem in problems:
        print(f"bundle check FAILED: {problem}", file=sys.stderr)
    if problems:
        print("server stderr (last 20 lines):", file=sys.stderr)
        for line in stderr.splitlines()[-20:]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stage.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    staging = commands.add_parser("stage", help="lay out the bundle directory mcpb packs")
    staging.add_argument("out", type=Path)
    staging.add_argument("--deps", choices=["bundle", "none"], default="bundle")
    staging.add_argument("--platform", help="pip platform tag of the target, e.g. macosx_11_0_arm64")
    staging.add_argument("--python-version", help="target Python X.Y (default: this interpreter's)")
    checking = commands.add_parser("check", help="start the bundle on the sandbox and list its tools")
    checking.add_argument("bundle", type=Path)
    checking.add_argument(
        "--python", default=sys.executable, help="interpreter to run it (default: this one)"
    )
    checking.add_argument("--isolated", action="store_true", help="python -I -S: only the bundle's packages")
    args = parser.parse_args(argv)
    if args.command == "stage":
        stage(args.out, args.deps, args.platform, args.python_version)
        target = json.loads((args.out / "server" / "bundle.json").read_text())
        print(f"staged {args.out}: Python {target['python']} on {target['platform']}, deps {target['deps']}")
        return 0
    return check(args.bundle, args.python, isolated=args.isolated)


if __name__ == "__main__":
    raise SystemExit(main())
