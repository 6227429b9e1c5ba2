import pytest


@pytest.fixture
def devices():
    """A connect() for the session runner that keeps every device it opened (to read the
    emulated boards' ground truth afterwards)."""
    import hostlink

    opened = []

    def connect(port):
        dev = hostlink.connect(port)
        opened.append(dev)
        return dev

    connect.opened = opened
    return connect
