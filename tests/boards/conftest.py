import pytest


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps or a fake port times out."""

    def __init__(self):
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds
            self.slept += seconds


@pytest.fixture
def clock():
    return FakeClock()
