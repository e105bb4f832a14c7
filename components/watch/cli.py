"""Entry point: parse flags, configure logging, dispatch, turn fatal errors into exit codes.

Exit codes: 0 success (or a clean stop), 1 the operation failed (``up``/``preview``), 2 fatal
configuration or environment error (bad flags, unknown stack, CLI missing, bindings not
listable), 3 stopped while an update was still running, 4 ``up``/``preview`` succeeded but
refused invalid bindings (everything else converged; ``--allow-refused`` makes it 0).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pulumi.automation import CommandError

from components.watch import config as watch_config
from components.watch import logs

log = logging.getLogger("components.watch")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parsed = watch_config.parse(argv)
    except watch_config.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logs.configure(parsed.common.log_level, parsed.common.log_format)
    try:
        if isinstance(parsed, watch_config.WatchConfig):
            from components.watch import daemon

            return daemon.run(parsed)
        if isinstance(parsed, watch_config.UpConfig):
            from components.watch import oneshot

            return oneshot.run(parsed)
        if isinstance(parsed, watch_config.ShardMoveConfig):
            from components.watch import shard_move

            return shard_move.run(parsed)
        from components.watch import preview

        return preview.run(parsed)
    except CommandError as error:
        log.error("pulumi: %s", str(error).strip()[-2000:])
    except (OSError, ValueError, RuntimeError) as error:
        log.error("%s", error)
    return 2
