"""batchat-gui: the Tk desktop client, and the server monitor window.

Everything here stands on the client layer (``libbatchat.client``): the
network runs on a ``LoopThread`` and widgets are touched only from the Tk
thread, which polls for updates with ``after()`` (see ``bridge``).
"""
