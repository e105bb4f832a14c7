"""Stop idle browsers: the watcher's periodic check of Guacamole's session records.

Every ``idleCheckInterval`` seconds: plan the watcher's cached bindings with the program's own
pure planning, read the session records of every running browser in ONE statement
(:mod:`components.watch.session_history`), decide per browser (:mod:`components.watch.idle`), and
scale each binding of a browser to stop back to 0 through the binding's ``scale`` subresource,
exactly as a logout by Keycloak would. The informer then sees ``spec.replicas`` change and the
normal path (targeted run) scales the Deployment; the next login's 0 -> 1 works as before.

Safety: the scale write carries the binding's ``resourceVersion`` from the cache, so a login that
changed the binding meanwhile wins (409, logged, retried next check). A database or API outage
only delays: a failed check is logged and the next one runs as usual; nothing here can stop the
watcher. With ``idleDryRun`` the check only logs and records Events.

Every action is logged and recorded as a Kubernetes Event on the binding; text that comes from a
binding is escaped first so it cannot forge a log line or an Event message.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pulumi.automation import CommandError

from components.binding_events import BindingEvent, Reason, post
from components.bindings import GROUP, PLURAL, VERSION, parse_binding
from components.guacamole.database import Database
from components.guacamole.settings import CONFIG_KEY, ENV_VAR, missing_dsn_message
from components.inert import escape
from components.planning import WorkspacePlan, plan_workspaces
from components.settings import IdleSettings
from components.watch.idle import Decision, IdlePolicy, RunningSince, Verdict, decide
from components.watch.runner import StackRunner
from components.watch.session_history import read_sessions

log = logging.getLogger(__name__)


Snapshot = Callable[[], Mapping[str, Mapping[str, Any]]]


@dataclass
class CycleReport:
    """What one check saw and did (for logs, tests and the benchmark)."""

    running: int = 0
    statements: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    """Binding keys scaled to 0 (or, in dry-run mode, that would have been)."""
    skipped: list[str] = field(default_factory=list)


class Reaper:
    """The periodic idle check; one instance per watcher."""

    def __init__(
        self,
        settings: IdleSettings,
        database: Database,
        api_client: Callable[[], client.ApiClient],
        snapshot: Snapshot,
        *,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.settings = settings
        self.policy = IdlePolicy.from_settings(settings)
        self.database = database
        self.api_client = api_client
        self.snapshot = snapshot
        self.today = today
        self.running_since = RunningSince()
        self._reported: set[tuple[str, datetime]] = set()
        """Dry-run reports made, by (binding, first sighting): once per browser run."""

    def run(self, stop: threading.Event) -> None:
        """Thread body: check every interval until ``stop``; a failed check never ends it."""
        log.info(
            "idle check every %ss: stop browsers idle for %ss (start-up grace %ss, sessions "
            "open over %ss count as ended)%s",
            self.settings.check_interval,
            self.settings.timeout,
            self.settings.startup_grace,
            self.settings.max_session_age,
            " [dry run: report only]" if self.settings.dry_run else "",
        )
        while not stop.wait(self.settings.check_interval):
            try:
                self.cycle()
            except Exception as error:  # an outage delays the check, never ends the watcher
                log.warning(
                    "idle check failed, retrying in %ss: %s",
                    self.settings.check_interval,
                    escape(str(error)),
                )

    def cycle(self) -> CycleReport:
        """One check: one SQL statement when something runs, none when nothing does."""
        manifests = self.snapshot()
        plan = plan_workspaces(
            (parse_binding(manifest, key) for key, manifest in manifests.items()), self.today()
        )
        running = [workspace for workspace in plan.workspaces if workspace.replicas > 0]
        report = CycleReport(running=len(running))
        if not running:
            self.running_since.update((), datetime.now(UTC))
            return report
        records = read_sessions(
            self.database,
            [(workspace.workspace, workspace.username) for workspace in running],
            self.policy.history_window,
        )
        report.statements = 1
        since = self.running_since.update((w.deployment_name for w in running), records.now)
        current = set(since.values())
        self._reported = {entry for entry in self._reported if entry[1] in current}
        for workspace, sessions in zip(running, records.sessions, strict=True):
            decision = decide(self.policy, records.now, since[workspace.deployment_name], sessions)
            report.decisions[workspace.deployment_name] = decision
            if decision.verdict is Verdict.STOP:
                self._stop(workspace, decision, manifests, report, since[workspace.deployment_name])
            else:
                log.debug(
                    "browser %s (%s): keep, %s",
                    workspace.deployment_name,
                    _who(workspace),
                    decision.describe(),
                )
        return report

    def _stop(
        self,
        workspace: WorkspacePlan,
        decision: Decision,
        manifests: Mapping[str, Mapping[str, Any]],
        report: CycleReport,
        running_since: datetime,
    ) -> None:
        api = self.api_client()
        for binding in workspace.bindings:
            if binding.replicas == 0:
                continue
            manifest = manifests[binding.key]
            message = (
                f"browser {workspace.deployment_name} of {_who(workspace)}: {decision.describe()}"
            )
            if self.settings.dry_run:
                if (binding.key, running_since) in self._reported:
                    continue
                self._reported.add((binding.key, running_since))
                log.info("[dry run] would scale binding %s to 0: %s", binding.key, message)
                record_event(
                    api, manifest, Reason.IDLE_STOP_PENDING, f"would scale to 0: {message}"
                )
                report.stopped.append(binding.key)
                continue
            try:
                scale_to_zero(api, manifest)
            except ApiException as error:
                if error.status in (404, 409):
                    log.info(
                        "binding %s changed meanwhile (%s); checking again next time",
                        binding.key,
                        error.status,
                    )
                    report.skipped.append(binding.key)
                    continue
                raise
            log.info("scaled binding %s to 0: %s", binding.key, message)
            record_event(api, manifest, Reason.IDLE_STOPPED, f"scaled to 0: {message}")
            report.stopped.append(binding.key)


def _who(workspace: WorkspacePlan) -> str:
    return escape(workspace.guacamole_username)


def scale_to_zero(api: client.ApiClient, manifest: Mapping[str, Any]) -> None:
    """``spec.replicas = 0`` through the scale subresource, only if the binding is unchanged."""
    metadata = manifest["metadata"]
    client.CustomObjectsApi(api).replace_namespaced_custom_object_scale(
        GROUP,
        VERSION,
        metadata["namespace"],
        PLURAL,
        metadata["name"],
        {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "spec": {"replicas": 0},
        },
    )


def record_event(
    api: client.ApiClient, manifest: Mapping[str, Any], reason: Reason, message: str
) -> None:
    """An Event on the binding (``kubectl describe awsb``); best effort, like every Event."""
    metadata = manifest["metadata"]
    post(
        client.CoreV1Api(api),
        metadata["namespace"],
        metadata["name"],
        metadata.get("uid"),
        BindingEvent(reason, message),
    )


def database_url(
    config_get: Callable[[Sequence[str]], str], environ: Mapping[str, str] | None = None
) -> str | None:
    """The Guacamole DSN the providers use: the secret setting, else the environment variable.

    ``config_get`` runs ``pulumi config get`` with the given arguments (the stack's passphrase or
    secrets provider decrypts it); a missing key falls back to the environment.
    """
    environ = os.environ if environ is None else environ
    try:
        value = config_get(["config", "get", CONFIG_KEY]).strip()
    except CommandError:
        value = ""
    return value or environ.get(ENV_VAR, "").strip() or None


def start(
    runner: StackRunner,
    settings: IdleSettings,
    api_client: Callable[[], client.ApiClient],
    snapshot: Snapshot,
    stop: threading.Event,
) -> threading.Thread | None:
    """Start the idle check in its own thread (called once at start-up, before any run)."""
    if not settings.enabled:
        log.info("idle shutdown is off (idleTimeout 0)")
        return None

    def config_get(args: Sequence[str]) -> str:
        command = [*args, "--stack", runner.stack_name]
        directory = str(runner.project.directory)
        return runner.command.run(command, directory, runner.env).stdout

    dsn = database_url(config_get)
    if dsn is None:
        log.warning("idle shutdown is off: %s", missing_dsn_message())
        return None
    reaper = Reaper(settings, Database(dsn, max_idle=1), api_client, snapshot)
    thread = threading.Thread(target=reaper.run, args=(stop,), name="idle-check", daemon=True)
    thread.start()
    return thread
