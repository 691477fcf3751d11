"""Where each number lives in a runner's state vector, the config vector and the event rows.

A runner's whole state is one small float64 array (about 1.1 KB), so the server can hold
thousands, copy one to rewind a runner, and hand it to numba without boxing. These constants
are the only place the layout is written down.
"""

# --- runner state: matcher -------------------------------------------------------------
N_FIX = 0  # fixes accepted so far
LAST_T = 1  # time of the last accepted fix (epoch s)
LAST_X = 2
LAST_Y = 3
PACE = 4  # learned speed along the course while moving, m/s
S_EST = 5  # progress: course distance of the best hypothesis, m
D_EST = 6  # offset from the course at the best plausible match (capped), m
MATCHED = 7  # 1 when the best hypothesis is on the course line
N_HYP = 8  # hypotheses in use
MAX_S = 9  # furthest progress while on course (wrong-way reference)
PATH_M = 10  # distance travelled by the fixes, m
INTERVAL = 11  # typical interval between fixes, s
JUMP = 12  # 1 when the last step jumped further along than was possible
LAST_MOVE_T = 13  # time of the last fix at a new position
FINISHED = 14  # 1 once the runner reached the finish
# --- runner state: off-course detector (see detectors/offcourse.py) ----------------------
OC = 16
OC_LEN = 23
# --- runner state: wrong-way detector (see detectors/wrongway.py) ------------------------
WW = 40
WW_LEN = 10
# --- runner state: receiver noise estimate (see engine/noise.py) -------------------------
NOISE = 50
NOISE_LEN = 7
# --- runner state: the course a runner can have reached (see engine/reach.py) ------------
REACH = 58
REACH_LEN = 25
# --- runner state: hypotheses, HYP_FIELDS each -------------------------------------------
HYP = 83
MAX_HYP = 12
HYP_FIELDS = 5  # s, score, coast flag, time of the last on-course match, furthest s
H_S = 0
H_SCORE = 1
H_COAST = 2
H_T = 3
H_HWM = 4
STATE_LEN = HYP + MAX_HYP * HYP_FIELDS

# --- config vector ------------------------------------------------------------------------
C_RADIUS = 0  # candidate search radius, m
C_SIGMA = 1  # floor of the GPS error scale, m
C_PACE0 = 2  # prior pace, m/s
C_VMAX = 3  # fastest plausible progress, m/s
C_BACK_SLACK = 4  # backward progress allowed for free, m
C_LAMBDA_BACK = 5  # m of backward progress per nat
C_LAMBDA_FWD = 6  # m of impossible forward progress per nat
C_E_OFF = 7  # emission of the coast (off the line) hypothesis, as a distance, m
C_P_LEAVE = 8  # nats to leave the line
C_BEAM = 9  # hypotheses further below the best than this are dropped
C_OC_D_REF = 10  # off-course: offset at which evidence starts to accumulate, m
C_OC_SCALE = 11  # m of offset per unit of evidence
C_OC_Z_HI = 12  # cap of evidence per fix (heavy tail)
C_OC_Z_LO = 13  # cap of counter-evidence per fix
C_OC_H = 14  # evidence that raises the alarm
C_OC_TAU = 15  # s of fixes that count as one independent fix
C_OC_D_CLEAR = 16  # offset under which a fix counts as back on course, m
C_OC_H_CLEAR = 17  # evidence to clear the alarm
C_WW_DIST = 18  # backward progress that makes a wrong way, m
C_WW_CLEAR = 19  # forward progress that clears it, m
C_SHORTCUT_M = 20  # course skipped beyond the distance run that makes a shortcut, m
C_NU = 21  # Student-t degrees of freedom of the emission
C_EMIT_TAU = 22  # s of fixes that count as one independent position
C_START_PRIOR_M = 23  # first fix: one nat less per this many metres from the start
C_FINISH_M = 24  # within this of the end of the course counts as finished
C_WW_PERSIST_S = 25  # backward progress must last this long, s
C_NOISE_NEAR_M = 26  # fixes matched within this of the line teach the noise estimate, m
C_OC_MOVING_MPS = 27  # speed under which off-course evidence is scaled down, m/s
C_OC_K_ACC = 28  # alarm threshold grows by this per metre of reported accuracy...
C_OC_ACC_REF = 29  # ... beyond this, m
C_BURST_S = 30  # for this long a runner may go at vmax, s
C_VSUS = 31  # then at most this (or 2.5 times their pace), m/s
C_STATION_ZONE_M = 32  # within this of a station nobody is off course (aid stations), m
C_WW_REJOIN_M = 33  # wrong way right after rejoining: backward progress that makes it, m
C_LAMBDA_REJOIN_BACK = 34  # m behind the point of leaving per nat, when rejoining
C_COAST_BACK_M = 35  # off the line, the runner may be beside the course this far back, m
C_AMBIGUOUS = 36  # passes scoring within this many nats of the best count as possible
C_MERGE_M = 37  # hypotheses closer than this along the course merge, m
C_NOISE_TAU = 38  # time constant assumed of GPS error when estimating a receiver's noise, s
C_NOISE_LEARN = 39  # the noise estimate averages over this long, s
C_OC_K_NOISE = 40  # no accuracy reported: threshold grows by this per metre of noise ...
C_OC_NOISE_REF = 41  # ... estimated beyond this, m ...
C_OC_NOISE_CAP = 42  # ... by at most this, m
C_NOISE_PRIOR = 43  # noise assumed of a receiver until its fixes tell (or forever, for pings), m
C_OC_BAND_S = 44  # a runner kept off the line (beyond d_clear) this long is on a path beside it...
C_OC_BAND_M = 45  # ... and gets this much more margin, m
C_REACH_MIN = 46  # a runner this far from the whole line: offset from the reachable course, m
C_REACH_SLACK = 47  # reachable: back and forth the distance run since on the line, plus this, m
C_REACH_NEAR = 48  # passes this much further than the nearest are places the runner may be, m
C_REACH_ON = 49  # a fix matched this near the line places the runner there, m
C_REACH_EXPIRE = 50  # a place the runner did not go on from is forgotten after this much run, m
C_OC_FOLLOW = 51  # a way back far from where the runner left must follow the course this far, m
CFG_LEN = 52

# --- event rows ---------------------------------------------------------------------------
EV_CODE = 0
EV_T = 1
EV_X = 2
EV_Y = 3
EV_S = 4
EV_OFFSET = 5
EV_LEFT_T = 6
EV_LEFT_S = 7
EV_LEFT_X = 8
EV_LEFT_Y = 9
EV_MAXOFF = 10
EV_PATH = 11
EV_FIX = 12
EV_ALARM_T = 13
EV_FIELDS = 14

CODE_OFF_COURSE = 1
CODE_BACK_ON_COURSE = 2
CODE_SHORTCUT = 3
CODE_WRONG_WAY = 4
CODE_WRONG_WAY_END = 5
