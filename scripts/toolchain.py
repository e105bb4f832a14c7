#!/usr/bin/env python3
"""Build the offline toolchain (Pulumi CLI, language host, provider plugins, control plane).

None of these binaries can be downloaded on the machines this project runs on, but all of
them are Go programs whose modules the Go module proxy serves. Each one is built from a small
wrapper module under ``toolchain/<name>/`` whose ``go.mod``/``go.sum`` pin every dependency
(the upstream modules carry ``replace`` directives, so ``go install mod@version`` cannot
work). Results land in a cache outside the repository, keyed by the pinned versions, so a
warm run only checks stamps.

Usage::

    scripts/toolchain.py install [NAME ...]   # build what is missing, print where it went
    scripts/toolchain.py env                  # shell exports that put the tools to use
                                              # (the built toolset, else a compatible installed
                                              # pulumi; AWMS_TOOLCHAIN=built|installed|auto)
    scripts/toolchain.py path                 # the bin directory
    scripts/toolchain.py check                # exit non-zero unless everything is built
    scripts/toolchain.py tidy NAME            # refresh a wrapper's go.sum (maintainers)

Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WRAPPERS = REPO / "toolchain"

PULUMI_VERSION = "3.259.0"
# Only this language-host revision of the Go module is served by the module proxy; it speaks
# the same plugin protocol and runs the executor script shipped with the CLI's SDK.
LANGUAGE_HOST_VERSION = "3.163.0"
KUBERNETES_PROVIDER_VERSION = "4.25.0"
KUBERNETES_PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"
KUBERNETES_PROVIDER_PSEUDO = "v4.0.0-20260115033456-f47bc2d6f199"
# The newest minor whose staging modules are all served by the module proxy.
KUBERNETES_VERSION = "1.35.4"
ETCD_VERSION = "3.6.11"
ETCD_GIT_SHA = "ec166e2"  # the server/v3.6.11 tag commit, as etcd's own build stamps it


def cache_root() -> Path:
    """Where built tools live: outside the repo so clean clones and CI reuse them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "awms-browser-workspaces"


def log(message: str) -> None:
    print(f"[toolchain] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run a build step, failing loudly with the command that broke."""
    log(f"$ {' '.join(cmd)}  (in {cwd})")
    completed = subprocess.run(list(cmd), cwd=cwd, env=env, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"toolchain: command failed ({completed.returncode}): {' '.join(cmd)}")


def go_env() -> dict[str, str]:
    """Environment for go commands: pinned sums instead of the unreachable checksum DB."""
    env = dict(os.environ)
    env.update(
        {
            "GOFLAGS": "-mod=mod -buildvcs=false",
            # Every wrapper commits a complete go.sum, which is what verifies downloads here.
            "GOSUMDB": "off",
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
        }
    )
    env.setdefault("GOPROXY", "https://proxy.golang.org")
    return env


def go_mod_dir(module: str, version: str) -> Path:
    """Download one module version and return its (read-only) directory in the module cache."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cache_root(),
        env=go_env(),
        check=False,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"toolchain: cannot download {module}@{version}: {info or out.stderr}")
    return Path(info["Dir"])


def copy_module(module: str, version: str, dest: Path) -> None:
    """Copy a module out of the read-only module cache so generated files can be added."""
    src = go_mod_dir(module, version)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def with_version(schema_file: Path, out_file: Path, version: str | None) -> None:
    """Write the '*-embed.json' files that provider builds embed but modules do not ship."""
    data = json.loads(schema_file.read_text())
    if version is not None:
        data["version"] = version
    out_file.write_text(json.dumps(data, separators=(",", ":")))


def prepare_kubernetes_provider(build_dir: Path) -> None:
    dest = build_dir / "src" / "provider"
    copy_module(KUBERNETES_PROVIDER_MODULE, KUBERNETES_PROVIDER_PSEUDO, dest)
    cmd_dir = dest / "cmd" / "pulumi-resource-kubernetes"
    version = KUBERNETES_PROVIDER_VERSION
    with_version(cmd_dir / "schema.json", cmd_dir / "schema-embed.json", version)
    with_version(cmd_dir / "terraform-mapping.json", cmd_dir / "terraform-mapping-embed.json", None)


@dataclass(frozen=True)
class Plugin:
    """A provider plugin the CLI must find in its plugin cache instead of downloading it."""

    kind: str
    name: str
    version: str


@dataclass(frozen=True)
class GoTool:
    """One wrapper module and the binaries it builds."""

    name: str
    version: str
    binaries: dict[str, str]  # output file name -> Go main package
    ldflags: tuple[str, ...] = ()
    tags: str = ""
    prepare: Callable[[Path], None] | None = None
    plugin: Plugin | None = None
    extra_files: dict[str, Path] = field(default_factory=dict)  # bin name -> source file

    @property
    def wrapper(self) -> Path:
        return WRAPPERS / self.name

    def fingerprint(self) -> str:
        """Changes whenever the pinned inputs change, so stale binaries are rebuilt."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.version, self.binaries, self.ldflags, self.tags]).encode())
        for name in ("go.mod", "go.sum"):
            digest.update((self.wrapper / name).read_bytes())
        for extra in sorted(self.extra_files.values()):
            digest.update(extra.read_bytes())
        return digest.hexdigest()[:12]


def pulumi_version_flag(version: str) -> str:
    return f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{version}"


def kube_ldflags(version: str) -> tuple[str, ...]:
    """The flags upstream's hack/lib/version.sh sets; without them /version says v0.0.0."""
    major, minor, _ = version.split(".")
    flags = []
    values = {
        "gitVersion": f"v{version}",
        "gitMajor": major,
        "gitMinor": minor,
        # Module zips carry no commit id; "archive" is upstream's tree state for source archives.
        "gitCommit": "",
        "gitTreeState": "archive",
        # Fixed so that the same inputs give the same binary.
        "buildDate": "2026-01-01T00:00:00Z",
    }
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return tuple(flags)


LAUNCHERS = WRAPPERS / "launchers"

TOOLS: tuple[GoTool, ...] = (
    GoTool(
        name="pulumi-cli",
        version=PULUMI_VERSION,
        binaries={"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"},
        ldflags=(pulumi_version_flag(PULUMI_VERSION),),
        tags="osusergo,grpcnotrace",
    ),
    GoTool(
        name="pulumi-language-python",
        version=LANGUAGE_HOST_VERSION,
        binaries={
            "pulumi-language-python": (
                "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
            )
        },
        ldflags=(pulumi_version_flag(LANGUAGE_HOST_VERSION),),
        tags="osusergo,grpcnotrace",
        extra_files={
            "pulumi-language-python-exec": LAUNCHERS / "pulumi-language-python-exec",
            "pulumi-resource-pulumi-python": LAUNCHERS / "pulumi-resource-pulumi-python",
        },
    ),
    GoTool(
        name="kubernetes-provider",
        version=KUBERNETES_PROVIDER_VERSION,
        binaries={
            "pulumi-resource-kubernetes": (
                f"{KUBERNETES_PROVIDER_MODULE}/cmd/pulumi-resource-kubernetes"
            )
        },
        ldflags=(
            f"-X {KUBERNETES_PROVIDER_MODULE}/pkg/version.Version={KUBERNETES_PROVIDER_VERSION}",
        ),
        prepare=prepare_kubernetes_provider,
        plugin=Plugin("resource", "kubernetes", KUBERNETES_PROVIDER_VERSION),
    ),
    GoTool(
        name="kubernetes",
        version=KUBERNETES_VERSION,
        binaries={
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        },
        ldflags=kube_ldflags(KUBERNETES_VERSION),
        tags="selinux,notest,grpcnotrace",
    ),
    GoTool(
        name="etcd",
        version=ETCD_VERSION,
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
        ldflags=(f"-X go.etcd.io/etcd/api/v3/version.GitSHA={ETCD_GIT_SHA}",),
    ),
)


def toolset_key() -> str:
    """The cache directory name: readable versions plus a digest of every wrapper."""
    labels = {
        "pulumi-cli": "pulumi",
        "pulumi-language-python": "pyhost",
        "kubernetes-provider": "k8sprovider",
        "kubernetes": "kube",
    }
    versions = "_".join(f"{labels.get(t.name, t.name)}-{t.version}" for t in TOOLS)
    digest = hashlib.sha256("".join(t.fingerprint() for t in TOOLS).encode()).hexdigest()[:8]
    return f"{versions}_{digest}"


def toolset_dir() -> Path:
    return cache_root() / "tools" / toolset_key()


def bin_dir() -> Path:
    return toolset_dir() / "bin"


def pulumi_home() -> Path:
    return toolset_dir() / "pulumi-home"


def tool_dir(tool: GoTool) -> Path:
    """Each tool's own output, keyed by its fingerprint, so a bump rebuilds only that tool."""
    return cache_root() / "builds" / f"{tool.name}-{tool.version}-{tool.fingerprint()}"


def stamp_path(tool: GoTool) -> Path:
    return toolset_dir() / "stamps" / f"{tool.name}-{tool.fingerprint()}"


def link_into(source: Path, target: Path) -> None:
    """Hard-link (or copy) a built file into the toolset: the CLI finds its bundled language
    host next to its own resolved path, so symlinks into per-tool dirs would not do."""
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def build(tool: GoTool) -> None:
    """Build one wrapper's binaries into the toolset, unless its stamp says they are there."""
    stamp = stamp_path(tool)
    if stamp.exists():
        log(f"{tool.name} {tool.version}: cached")
        return
    started = time.monotonic()
    out_dir = tool_dir(tool) / "bin"
    done = tool_dir(tool) / "complete"
    if not done.exists():
        build_dir = cache_root() / "build" / f"{tool.name}-{tool.fingerprint()}"
        build_dir.mkdir(parents=True, exist_ok=True)
        for name in ("go.mod", "go.sum", "tools.go"):
            shutil.copy2(tool.wrapper / name, build_dir / name)
        if tool.prepare is not None:
            tool.prepare(build_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        env = go_env()
        for output, package in tool.binaries.items():
            cmd = ["go", "build", "-trimpath", "-o", str(out_dir / output)]
            if tool.tags:
                cmd += ["-tags", tool.tags]
            if tool.ldflags:
                cmd += ["-ldflags", " ".join(("-s", "-w", *tool.ldflags))]
            run([*cmd, package], cwd=build_dir, env=env)
        for output, source in tool.extra_files.items():
            shutil.copy2(source, out_dir / output)
            (out_dir / output).chmod(0o755)
        shutil.rmtree(build_dir, ignore_errors=True)
        done.write_text(datetime.now(UTC).isoformat())
    bin_dir().mkdir(parents=True, exist_ok=True)
    for built in out_dir.iterdir():
        link_into(built, bin_dir() / built.name)
    if tool.plugin is not None:
        install_plugin(tool)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(datetime.now(UTC).isoformat())
    log(f"{tool.name} {tool.version}: built in {time.monotonic() - started:.0f}s")


def install_plugin(tool: GoTool) -> None:
    """Register a provider binary in PULUMI_HOME so the CLI never tries to fetch it."""
    assert tool.plugin is not None
    binary = tool_dir(tool) / "bin" / next(iter(tool.binaries))
    cli = bin_dir() / "pulumi"
    if not cli.exists():
        raise SystemExit("toolchain: the Pulumi CLI must be built before provider plugins")
    plugin = tool.plugin
    run(
        [
            str(cli),
            "plugin",
            "install",
            plugin.kind,
            plugin.name,
            plugin.version,
            "--file",
            str(binary),
            "--exact",
        ],
        cwd=toolset_dir(),
        env={**os.environ, **tool_env()},
    )
    # The plugin cache holds its own copy; keep providers off PATH so only that copy is used.
    (bin_dir() / binary.name).unlink(missing_ok=True)


def turn_off_automatic_log(home: Path) -> None:
    """Replace ``PULUMI_HOME/logs`` with an empty file, which the CLI takes as "no automatic log".

    The CLI (3.259) writes a debug-level log of every command there (the engine's steps with
    their resource properties, gzipped, encrypted once a stack is loaded), with no setting to
    stop it; the encoding and compression took more than half the engine's CPU time in a
    ``preview`` of 730 resources.
    """
    logs = home / "logs"
    if logs.is_dir() and not logs.is_symlink():
        shutil.rmtree(logs)
    if not logs.exists():
        home.mkdir(parents=True, exist_ok=True)
        logs.touch()


def tool_env() -> dict[str, str]:
    """The environment that makes the CLI use these tools and never reach for the network."""
    return {
        "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(pulumi_home()),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "AWMS_TOOLS_BIN": str(bin_dir()),
    }


def missing() -> list[str]:
    return [tool.name for tool in TOOLS if not stamp_path(tool).exists()]


def ensure_go() -> None:
    if shutil.which("go") is None:
        raise SystemExit("toolchain: Go is required (https://go.dev); it is not on PATH")


def cmd_install(names: list[str]) -> None:
    ensure_go()
    cache_root().mkdir(parents=True, exist_ok=True)
    selected = [t for t in TOOLS if not names or t.name in names]
    unknown = set(names) - {t.name for t in TOOLS}
    if unknown:
        raise SystemExit(f"toolchain: unknown tool(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    for tool in selected:
        build(tool)
    turn_off_automatic_log(pulumi_home())
    log(f"toolset {toolset_dir()} ready in {time.monotonic() - started:.1f}s")
    print(bin_dir())


TOOLCHAIN_CHOICE = "AWMS_TOOLCHAIN"


def chosen_env() -> dict[str, str]:
    """The built toolset's environment, or a compatible installed CLI's (see pulumi_compat).

    ``auto`` (the default) takes the built toolset when it is complete, else an installed CLI;
    ``built`` and ``installed`` force one. Nothing here feeds the toolset key.
    """
    from pulumi_compat import IncompatibleToolchainError, installed_env

    choice = os.environ.get(TOOLCHAIN_CHOICE, "auto")
    if choice not in ("auto", "built", "installed"):
        raise SystemExit(f"toolchain: {TOOLCHAIN_CHOICE} must be auto, built or installed")
    if choice == "built" or (choice == "auto" and not missing()):
        return tool_env()
    try:
        exports: dict[str, str] = installed_env(
            os.environ, PULUMI_VERSION, "kubernetes", KUBERNETES_PROVIDER_VERSION
        )
        return exports
    except IncompatibleToolchainError as error:
        built = (
            ""
            if choice == "installed"
            else (
                f"the project's toolset is not built (missing: {', '.join(missing())}; "
                "`scripts/toolchain.py install` builds it) and "
            )
        )
        raise SystemExit(
            f"toolchain: {built}the installed Pulumi cannot be used: {error}\n"
            f"toolchain: needs pulumi >= {PULUMI_VERSION} (3.x) with its Python language host "
            f"and `pulumi plugin install resource kubernetes {KUBERNETES_PROVIDER_VERSION}`"
        ) from None


def cmd_env() -> None:
    for key, value in chosen_env().items():
        print(f"export {key}={shlex_quote(value)}")


def shlex_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def cmd_tidy(name: str) -> None:
    """Regenerate a wrapper's go.sum after a version bump (needs the prepared sources)."""
    ensure_go()
    tool = next((t for t in TOOLS if t.name == name), None)
    if tool is None:
        raise SystemExit(f"toolchain: unknown tool {name}")
    build_dir = cache_root() / "tidy" / name
    build_dir.mkdir(parents=True, exist_ok=True)
    for file in ("go.mod", "tools.go"):
        shutil.copy2(tool.wrapper / file, build_dir / file)
    if tool.prepare is not None:
        tool.prepare(build_dir)
    run(["go", "mod", "tidy"], cwd=build_dir, env=go_env())
    for file in ("go.mod", "go.sum"):
        shutil.copy2(build_dir / file, tool.wrapper / file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="build missing tools")
    install.add_argument("names", nargs="*")
    sub.add_parser("env", help="print shell exports")
    sub.add_parser("path", help="print the bin directory")
    sub.add_parser("check", help="fail unless every tool is built")
    tidy = sub.add_parser("tidy", help="refresh a wrapper's go.sum")
    tidy.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "install":
        cmd_install(args.names)
    elif args.command == "env":
        cmd_env()
    elif args.command == "path":
        print(bin_dir())
    elif args.command == "check":
        absent = missing()
        if absent:
            print(f"toolchain: not built yet: {', '.join(absent)}", file=sys.stderr)
            return 1
        print(bin_dir())
    elif args.command == "tidy":
        cmd_tidy(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
