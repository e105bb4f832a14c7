"""The sharded-environment benchmark: ``python -m bench.shards`` (see its ``__main__``)."""
