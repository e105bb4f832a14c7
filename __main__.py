"""Entry point: configuration in, stack outputs out; everything else lives in components/."""

import gc

import pulumi

from components.access_check import require_write_access
from components.binding_source import make_source
from components.kube_client import new_api_client
from components.placement import PlacementError
from components.placement_store import PlacementStoreError, placed_scope
from components.program import declare
from components.sdk_tuning import tune_sdk
from components.settings import SettingsError, load_settings
from components.sharding import ShardingError, scope_for_stack

tune_sdk()
settings = load_settings()
try:
    scope = scope_for_stack(pulumi.get_stack(), settings.shards)
    scope = placed_scope(
        scope,
        settings.kubeconfig,
        settings.namespace,
        pulumi.get_stack(),
        dry_run=pulumi.runtime.is_dry_run(),
    )
except (ShardingError, PlacementError, PlacementStoreError) as error:
    raise SettingsError(str(error)) from error
if not pulumi.runtime.is_dry_run():
    # Before any resource is registered, so a refused update has written nothing.
    require_write_access(settings, new_api_client(settings.kubeconfig or None))
declared = declare(settings, make_source(settings), scope=scope)
for key, value in declared.outputs().items():
    pulumi.export(key, value)

# Everything the program built so far lives until the process ends: moved out of the cyclic
# collector's sight, it is not traversed again by the collections the engine's callbacks
# trigger, nor by the interpreter's exit (about 0.3 s of every run, for the client libraries'
# thousands of module objects).
gc.freeze()
