"""The pipeline trigger: run the Pulumi program when bindings change, fast for a login.

The platform's login flow (Keycloak) scales a binding's ``spec.replicas`` to 1 and waits for the
browser pod. A full ``pulumi up`` grows with the number of bindings, so this package watches the
bindings through the Kubernetes API and turns each burst of changes into the smallest safe run:

* a change confined to existing bindings' ``spec.replicas``/``spec.comments`` becomes a *targeted*
  ``up`` of those bindings' resources (``--target`` URNs from the stack state);
* anything else (add, delete, workspace/username/expiry change, a workspace change, start-up,
  periodic resync, a binding crossing its expiry date) becomes a *full* ``up``.

One worker thread per stack runs everything through the Automation API, so two runs of a stack
never overlap (a sharded environment has one per shard stack, see ``shard_watch``); failures
are retried with exponential backoff and written to the bindings' ``status.statusText``. The same
entry point previews a bindings file for review (``preview``) and runs one ``up`` (``up``) for a
pipeline. ``python -m components.watch --help`` lists the commands.
"""
