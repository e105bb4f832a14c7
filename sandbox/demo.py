"""The main job on the local sandbox: bindings in, `pulumi up`, objects and rows out.

Starts (or reuses) the default sandbox, applies the sample AnalyticsWorkspace and binding
manifests, runs `pulumi up` on the `dev` stack, then prints what now exists in Kubernetes and in
Guacamole's database, the way a platform engineer would check a deployment by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from sandbox.__main__ import DEFAULT_WORKDIR
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, REPO, Sandbox
from sandbox.pulumi_cli import PulumiCli

SAMPLES = REPO / "stacks" / "samples"
STACK = "dev"

GUACAMOLE_ROWS = """
SELECT e.name AS guacamole_user, g.connection_group_name AS "group", c.connection_name,
       c.connection_id,
       max(p.parameter_value) FILTER (WHERE p.parameter_name = 'hostname') AS hostname,
       max(p.parameter_value) FILTER (WHERE p.parameter_name = 'port') AS port
FROM guacamole_connection_permission cp
JOIN guacamole_entity e ON e.entity_id = cp.entity_id
JOIN guacamole_connection c ON c.connection_id = cp.connection_id
JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
LEFT JOIN guacamole_connection_parameter p ON p.connection_id = c.connection_id
WHERE cp.permission = 'READ'
GROUP BY 1, 2, 3, 4 ORDER BY 1
"""


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show_guacamole(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(GUACAMOLE_ROWS).fetchall()
    print(f"{'guacamole user':<48} {'group':<28} {'id':>4}  hostname:port")
    for user, group, _name, connection_id, hostname, port in rows:
        print(f"{user:<48} {group:<28} {connection_id:>4}  {hostname}:{port}")


def main(workdir: Path = DEFAULT_WORKDIR) -> int:
    if (workdir / "sandbox.json").exists() and Sandbox.load(workdir).status()["kube"]:
        sandbox = Sandbox.load(workdir)
    else:
        sandbox = Sandbox.create(workdir)
        sandbox.up()
    section(f"sandbox {sandbox.workdir}")
    for manifest in sorted(SAMPLES.glob("*.yaml")):
        print(sandbox.kubectl("apply", "-n", BINDINGS_NAMESPACE, "-f", str(manifest)), end="")

    cli = PulumiCli(REPO, STACK, sandbox.env())
    cli.init_stack()
    section(f"pulumi up --stack {STACK}")
    result = cli.up()
    print(result.stdout)

    section(f"Kubernetes objects in namespace {BROWSER_NAMESPACE}")
    print(
        sandbox.kubectl(
            "get", "deployments,services,secrets,networkpolicies", "-n", BROWSER_NAMESPACE
        ),
        end="",
    )
    section("bindings")
    print(sandbox.kubectl("get", "analyticsworkspacebindings", "-A"), end="")
    section("Guacamole users and their connections")
    show_guacamole(sandbox.database_url)
    section("next")
    print('eval "$(.venv/bin/python -m sandbox env)"   # then pulumi/kubectl/psql as usual')
    print(".venv/bin/python -m sandbox down            # stop the sandbox")
    return 0


if __name__ == "__main__":
    sys.exit(main())
