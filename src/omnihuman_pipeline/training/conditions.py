"""The omni-conditions sampler (paper §3.3): which conditions are active for one training sample.

Conditions from weak to strong motion correlation: text < audio < pose; the reference image is
always on. A stage trains a subset of them (stage 1: text; stage 2: + audio; stage 3: + pose).

Rules, each tested:

* a condition is active only when the stage trains it and the clip is eligible for it
  (text: T, audio: A, pose: P — curate's flags);
* Principle 2: condition c is drawn with its training ratio r_c (paper: text 0.9, i.e. a 10 % text
  drop that is also the CFG null, audio 0.5, pose 0.25: halved as the condition gets stronger);
* activating a condition activates the weaker ones the clip is eligible for.

All three follow from one uniform u per sample: c is active iff the clip is eligible for c and
u < r_c, or a stronger condition is active. With ratios that fall as conditions get stronger
(the paper's), each condition's activation frequency among eligible clips is exactly r_c. With a
stronger condition drawn more often than a weaker one (the Principle 2 ablation "A < P"), the
weaker one is active whenever the stronger is, so on clips eligible for both its frequency is
max(r_weak, r_strong): :func:`expected_frequency` gives the closed form.

Principle 1: in stages that train audio or pose, clips eligible for none of those stay in the mix
as text + image tasks; :func:`uses_t_only_clip` keeps a seeded ``t_only_fraction`` of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DRIVING = ("text", "audio", "pose")  # weak -> strong
TASKS = ("image", "text", "audio", "pose")  # a sample's task: its strongest active condition (image: none)
ELIGIBILITY_FLAG = {"text": "T", "audio": "A", "pose": "P"}


@dataclass(frozen=True)
class Ratios:
    """Training ratio of each driving condition (probability it is drawn on an eligible clip)."""

    text: float = 0.9
    audio: float = 0.5
    pose: float = 0.25

    def __post_init__(self) -> None:
        for name in DRIVING:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ratio of {name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class Eligibility:
    """Curate's flags for one clip (A and P are subsets of T)."""

    T: bool
    A: bool = False
    P: bool = False

    def allows(self, condition: str) -> bool:
        return bool(getattr(self, ELIGIBILITY_FLAG[condition]))


@dataclass(frozen=True)
class Active:
    """The active driving conditions of one sample (the reference image is always on)."""

    text: bool
    audio: bool
    pose: bool

    @property
    def task(self) -> str:
        """The strongest active condition: ``pose`` | ``audio`` | ``text`` | ``image`` (none: the CFG null)."""
        return "pose" if self.pose else "audio" if self.audio else "text" if self.text else "image"


def active_conditions(eligibility: Eligibility, stage_conditions: frozenset[str] | set[str], ratios: Ratios,
                      u: float) -> Active:
    """The active conditions for one sample given its uniform draw ``u`` in [0, 1).

    Args:
        eligibility: the clip's T/A/P flags.
        stage_conditions: the driving conditions the stage trains (subset of ``DRIVING``).
        ratios: the training ratios.
        u: the sample's uniform draw.

    Returns:
        Which of text, audio, pose are on.
    """
    unknown = set(stage_conditions) - set(DRIVING) - {"image"}
    if unknown:
        raise ValueError(f"unknown conditions {sorted(unknown)}; known: {DRIVING}")
    on: dict[str, bool] = {}
    stronger_on = False
    for name in reversed(DRIVING):  # strong -> weak, so a stronger active condition turns the weaker on
        allowed = name in stage_conditions and eligibility.T and eligibility.allows(name)
        on[name] = allowed and (u < getattr(ratios, name) or stronger_on)
        stronger_on = stronger_on or on[name]
    return Active(**on)


def expected_frequency(condition: str, eligibility: Eligibility, stage_conditions: frozenset[str] | set[str],
                       ratios: Ratios) -> float:
    """Closed-form probability that ``condition`` is active on a clip (what the sampler must reproduce)."""
    index = DRIVING.index(condition)
    allowed = [n for n in DRIVING[index:] if n in stage_conditions and eligibility.T and eligibility.allows(n)]
    if condition not in allowed:
        return 0.0
    return max(getattr(ratios, n) for n in allowed)


def is_t_only(eligibility: Eligibility, stage_conditions: frozenset[str] | set[str]) -> bool:
    """True for a T clip that is eligible for none of the stage's audio/pose conditions (Principle 1 data)."""
    strong = [n for n in ("audio", "pose") if n in stage_conditions]
    return bool(eligibility.T) and bool(strong) and not any(eligibility.allows(n) for n in strong)


def unit_hash(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) from ``parts`` (stable across processes and runs)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def uses_t_only_clip(clip_id: str, t_only_fraction: float, seed: int) -> bool:
    """Whether a T-only clip is in the stage's mix: a seeded subset of ``t_only_fraction`` of them.

    The subset for a smaller fraction is contained in the subset for a larger one (a clip is kept iff
    its hash is below the fraction), so the Principle 1 variants add data without swapping it.
    """
    if not 0.0 <= t_only_fraction <= 1.0:
        raise ValueError(f"t_only_fraction must be in [0, 1], got {t_only_fraction}")
    return unit_hash("t_only", seed, clip_id) < t_only_fraction
