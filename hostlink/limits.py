"""Bounds on what a user may ask for, shared by the CLI options, session plans and the client.

Frame counts and periods travel in 32-bit fields; these tighter bounds keep a typo (an extra zero
or two) from turning into days of captures.
"""

#: Frames in one capture request, one window or one warm-up.
MAX_FRAMES = 1_000_000
#: Frame period on the board clock: one minute.
MAX_PERIOD_US = 60_000_000
#: Windows per board in one session.
MAX_WINDOWS = 100_000
#: Boards in one session plan.
MAX_BOARDS = 64
