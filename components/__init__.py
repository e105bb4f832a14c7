"""The awms-browser-workspaces program's building blocks.

Importing the package adjusts two things in the SDK first: it guards the dynamic-provider
serialiser (``components.provider_pickling``: without it a program declaring more than ~240
bindings fails) and keeps only the declaring line in the stack trace stored per resource
(``components.stack_traces``: a third of the state otherwise).
"""

from components import provider_pickling, stack_traces

provider_pickling.install()
stack_traces.install()
