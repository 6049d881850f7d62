"""FloorGate: the real-time edge of a warehouse floor.

The source folders stay at the top of the repository (core/, devices/, edge/, web/, firmware_sim/);
this package gives them one import namespace, `floorgate.*`, through the links beside this file, so an
installed wheel never claims generic names such as `core` or `web`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("floorgate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
