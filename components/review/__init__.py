"""The access review: who gains and who loses access to which workspace, until when.

A bindings change is approved by people who read access, not Kubernetes objects. Modules:
``current`` (logins the stack holds now, from its state), ``engine`` (the engine's steps boiled
down to counts and settings changes), ``summary`` (state + plan -> :class:`AccessSummary`),
``render`` (terminal text and Markdown), ``escape`` (untrusted text made inert), ``access``
(the entry points ``preview`` and ``up`` call).
"""
