"""Whether a process is still running: the test behind every "left by a dead process" clean-up
(a session writer's temporaries, a crashed run's labgrid place)."""
import os


def pid_alive(pid: int) -> bool:
    """True if ``pid`` names a live process (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
