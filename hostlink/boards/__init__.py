"""Real boards: USB discovery, `hostlink doctor`, flashing, and each board's run-time link.

One module per board (``coralmicro``, ``spresense``, ``imx500``); ``discovery.find_boards()``
lists what is plugged in. Nothing here runs at import time.
"""
