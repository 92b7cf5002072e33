"""The embedded default data set: synthetic people written in the real Human3.6M / MPI-INF-3DHP formats.

Licence-restricted data cannot ship, so ``dvc repro`` runs on data made here (DATA.md §3). The point is
that the learning problem stays a real one:

- ``body``: a kinematic skeleton with per-subject bone lengths (constant in time), joint limits and
  forward kinematics;
- ``motion``: per-action joint-angle trajectories (gait cycles, sit-down / stand-up, arm and head
  gestures, idle sway, turning) that are smooth, clipped to joint limits, with the supporting foot on
  the floor;
- ``detector``: a detector-like error model (temporally correlated jitter, outliers, left/right swaps)
  turning the ground-truth 2D (the 4 real Human3.6M cameras with their exact distortion) into "det" 2D;
- ``cameras``: the synthetic 3DHP studio and test cameras;
- ``writers``: ``generate_h36m`` / ``generate_3dhp`` and the data README. Random poses are seen from
  several viewpoints, so 3D cannot be read off one frame's 2D (``diff3dhpe.baselines``, whose numbers
  go into the data README with ``lifter_check``).

Every take draws from its own random stream keyed by (seed, subject, action), so a subject's data does
not change when other subjects are added or removed.
"""

from diff3dhpe.data.synthetic.body import SubjectBody, TakeMotion, animate, expand_to_32, subject_body
from diff3dhpe.data.synthetic.detector import DetectorNoise, detector_noise
from diff3dhpe.data.synthetic.motion import ACTION_STYLES, motion_statistics, take_motion
from diff3dhpe.data.synthetic.streams import random_stream
from diff3dhpe.data.synthetic.writers import (
    H36M_SUBJECTS,
    MPI_TRAIN_SUBJECTS,
    generate_3dhp,
    generate_h36m,
    h36m_action_names,
    write_data_readme,
)

__all__ = [
    "ACTION_STYLES",
    "H36M_SUBJECTS",
    "MPI_TRAIN_SUBJECTS",
    "DetectorNoise",
    "SubjectBody",
    "TakeMotion",
    "animate",
    "detector_noise",
    "expand_to_32",
    "generate_3dhp",
    "generate_h36m",
    "h36m_action_names",
    "motion_statistics",
    "random_stream",
    "subject_body",
    "take_motion",
    "write_data_readme",
]
