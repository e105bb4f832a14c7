"""Entry point: configuration in, stack outputs out; everything else lives in components/."""

import pulumi

from components.binding_source import make_source
from components.program import declare
from components.settings import load_settings

settings = load_settings()
declared = declare(settings, make_source(settings))
for key, value in declared.outputs().items():
    pulumi.export(key, value)
