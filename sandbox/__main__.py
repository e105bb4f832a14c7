"""`python -m sandbox up|down|status|env|purge [--workdir DIR]`: manage a local sandbox.

`env` prints shell exports, so `eval "$(python -m sandbox env)"` makes `pulumi`, `kubectl` and
`psql "$AWMS_GUACAMOLE_DATABASE_URL"` talk to the sandbox (as the DML-only database login).
`kubeconfig --as awms-pipeline` writes a kubeconfig acting as one of deploy/rbac.yaml's
ServiceAccounts (a fresh token) and prints its path, to try a run without admin rights.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from sandbox.environment import REPO, Sandbox
from sandbox.identities import PIPELINE, PREVIEW, WATCHER

DEFAULT_WORKDIR = REPO / ".sandbox" / "default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env", "purge", "kubeconfig"])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument(
        "--as",
        dest="account",
        choices=[WATCHER, PIPELINE, PREVIEW],
        default=PIPELINE,
        help="ServiceAccount for `kubeconfig`",
    )
    args = parser.parse_args(argv)
    workdir: Path = args.workdir
    state_exists = (workdir / "sandbox.json").exists()

    if args.command == "up":
        if state_exists and Sandbox.load(workdir).status()["kube"]:
            print(f"sandbox already running in {workdir}", file=sys.stderr)
            return 0
        sandbox = Sandbox.create(workdir)
        sandbox.up()
        print(json.dumps(sandbox.status(), indent=2))
        return 0
    if not state_exists:
        print(f"no sandbox in {workdir}", file=sys.stderr)
        return 0 if args.command in ("down", "purge") else 1
    sandbox = Sandbox.load(workdir)
    if args.command == "down":
        sandbox.down()
    elif args.command == "purge":
        sandbox.purge()
    elif args.command == "kubeconfig":
        print(sandbox.identity_kubeconfig(args.account))
    elif args.command == "status":
        print(json.dumps(sandbox.status(), indent=2))
    elif args.command == "env":
        env = sandbox.env()
        for key in (
            "PATH",
            "PULUMI_HOME",
            "PULUMI_BACKEND_URL",
            "PULUMI_CONFIG_PASSPHRASE",
            "PULUMI_SKIP_UPDATE_CHECK",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
            "PULUMI_IGNORE_AMBIENT_PLUGINS",
            "KUBECONFIG",
            "AWMS_GUACAMOLE_DATABASE_URL",
        ):
            print(f"export {key}={shlex.quote(env[key])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
