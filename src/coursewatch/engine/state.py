"""Where each number lives in a runner's state vector.

A runner's whole state is one small float64 array (about 1.2 KB), so the server can hold
thousands, copy one to rewind a runner, and hand it to numba without boxing. The matcher's own
fields come first; then each state machine of the kernel gets the slice its module declares
(its ``FIELDS`` and ``LEN``); the hypotheses last. This module is the only place the layout is
written down.
"""

from coursewatch.engine import confirm, noise, offcourse, reach, wrongway

# --- the matcher -----------------------------------------------------------------------------
MATCHER_FIELDS = (
    "N_FIX", "LAST_T", "LAST_X", "LAST_Y", "PACE", "S_EST", "D_EST", "MATCHED", "N_HYP",
    "PATH_M", "INTERVAL", "JUMP", "LAST_MOVE_T", "FINISHED", "START_T", "FAR", "SEEN",
    "FAR_T", "START_KNOWN",
)  # fmt: skip
N_FIX = 0  # fixes accepted so far
LAST_T = 1  # time of the last accepted fix (epoch s)
LAST_X = 2
LAST_Y = 3
PACE = 4  # learned speed along the course while moving, m/s
S_EST = 5  # progress: course distance of the best hypothesis, m
D_EST = 6  # offset from the course at the best plausible match (capped), m
MATCHED = 7  # 1 when the best hypothesis is on the course line
N_HYP = 8  # hypotheses in use
PATH_M = 9  # distance travelled by the fixes, m
INTERVAL = 10  # typical interval between fixes, s
JUMP = 11  # 1 when the last step jumped further along than was possible
LAST_MOVE_T = 12  # time of the last fix at a new position
FINISHED = 13  # 1 once the runner reached the finish
START_T = 14  # the runner's start (epoch s), when known: 0 when not
FAR = 15  # 1 while more than far_course_m from every part of the course
SEEN = 16  # 1 once matched to the course line: where on the course the runner is, is known
FAR_T = 17  # when the runner last went far from the course
START_KNOWN = 18  # 1: START_T is the race's start (0: assumed, from a recording alone)

# --- the kernel's state machines, each a slice ------------------------------------------------
OC = len(MATCHER_FIELDS)  # off course (engine/offcourse.py)
OC_LEN = offcourse.LEN
WW = OC + OC_LEN  # wrong way (engine/wrongway.py)
WW_LEN = wrongway.LEN
NOISE = WW + WW_LEN  # receiver noise estimate (engine/noise.py)
NOISE_LEN = noise.LEN
REACH = NOISE + NOISE_LEN  # the course a runner can have reached (engine/reach.py)
REACH_LEN = reach.LEN
CF = REACH + REACH_LEN  # confirmed for race HQ (engine/confirm.py)
CF_LEN = confirm.LEN

# --- hypotheses, HYP_FIELDS each ---------------------------------------------------------------
HYP = CF + CF_LEN
MAX_HYP = 12
HYP_FIELDS = 5  # s, score, coast flag, time of the last on-course match, furthest s
H_S = 0
H_SCORE = 1
H_COAST = 2
H_T = 3
H_HWM = 4
STATE_LEN = HYP + MAX_HYP * HYP_FIELDS
