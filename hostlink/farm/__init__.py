"""Board farms on labgrid: places acquired from a labgrid coordinator, emulated boards exported to it.

hostlink does not grow its own farm engine. A labgrid coordinator knows the places; exporters on
the hosts that have the boards publish each board's run-time port (and its power monitor's port)
as labgrid resources; hostlink acquires a place, opens the board through the resource's address
and releases the place when done. ``labgrid://PLACE`` works wherever a port is taken.

labgrid is optional: ``pip install 'hostlink[labgrid]'``.
"""
from .address import FarmAddress, parse_farm_url
from .lease import Lease, acquire

__all__ = ["FarmAddress", "Lease", "acquire", "parse_farm_url"]
