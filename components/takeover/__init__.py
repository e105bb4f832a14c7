"""Taking over from the legacy operator: what it left behind, and who owns which field.

* :mod:`.inventory` reads, at program time, the purpose-labelled Deployments/Services and the
  browser connections in Guacamole's root groups (the only I/O of the program besides bindings);
* :mod:`.leftovers` decides, purely, which identities lose access (expired, invalid, deleted
  bindings), which objects are orphans, which groups stay, which objects change field owner;
* :mod:`.revocation` is the resource that makes those identities' access absent and keeps
  checking that it stays absent;
* :mod:`.field_owner` is the resource that moves the legacy writer's field ownership to this
  program's field manager before the first server-side apply.
"""
