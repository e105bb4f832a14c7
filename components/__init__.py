"""The awms-browser-workspaces program's building blocks.

Importing the package guards the SDK's dynamic-provider serialiser first (see
``components.provider_pickling``): without it a program declaring more than ~240 bindings fails.
"""

from components import provider_pickling

provider_pickling.install()
