"""Power-measurement sessions: a plan run unattended into a self-describing folder.

    from hostlink.session import load_plan, run_session
    store, summary = run_session(load_plan("examples/tinytracker.yaml"), "sessions")
    summary["boards"]["imx500"]["total_energy_mj"]
"""
from .analysis import SessionInvalid
from .plan import BoardPlan, Checks, Plan, load_plan, resolve_model
from .preflight import SessionNotStarted
from .runner import SessionStopped, finalize, resume_session, run_session
from .store import SessionStore

__all__ = [
    "BoardPlan", "Checks", "Plan", "SessionInvalid", "SessionNotStarted", "SessionStopped", "SessionStore", "finalize",
    "load_plan", "resolve_model", "resume_session", "run_session",
]
