"""Action plans, outcomes and the six steps of the work-flow.

- A plan is a checklist per alert type (config ``plans``); its required steps must be
  ticked before the alert can be resolved or closed (the store refuses, naming them).
- Closing records an outcome (``confirmed``, ``suspicious``, ``false_alarm``) and a note;
  a false alarm needs one (its reason). The statistics read the outcome.
- The six steps of the reports' work-flow (发现 立案 派遣 审核 结案 评估) are views of the
  work-flow's states: ``STAGES`` says which states are at which step, and the evaluation
  step is the outcome and its note.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from common.config import Strict

OUTCOMES = ("confirmed", "suspicious", "false_alarm")
OUTCOME_NOTE_CHARS = 500  # a reason stays short; the audit entry carries it too
TICKABLE_STATES = ("new", "acknowledged", "dispatched")  # an open alert's checklist
# the actions the required steps must be ticked before
GATED_ACTIONS = ("resolve", "close")
# (key, zh-CN, en, the work-flow states at this step); evaluate: an outcome is recorded
STAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("discover", "发现", "discover", ("new",)),
    ("register", "立案", "register", ("acknowledged",)),
    ("dispatch", "派遣", "dispatch", ("dispatched",)),
    ("review", "审核", "review", ("resolved",)),
    ("close", "结案", "close", ("closed", "false_alarm")),
    ("evaluate", "评估", "evaluate", ()),
)


class PlanStep(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$", description="The step's key, stored with "
                    "each tick")
    text: str = Field(min_length=1, max_length=200, description="What the operator does")
    required: bool = Field(True, description="Must be ticked before resolve or close")


class Plan(Strict):
    steps: list[PlanStep] = Field(min_length=1, max_length=20)

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: list[PlanStep]) -> list[PlanStep]:
        seen: set[str] = set()
        for s in steps:
            if s.id in seen:
                raise ValueError(f"step id {s.id!r} is used twice")
            seen.add(s.id)
        return steps

    def required(self) -> list[str]:
        return [s.id for s in self.steps if s.required]

    def step_ids(self) -> set[str]:
        return {s.id for s in self.steps}


def default_plans() -> dict[str, Plan]:
    """Short plans for the commonest types; a site's config replaces them all."""
    return {
        "intrusion": Plan(steps=[
            PlanStep(id="check_video", text="Check the clip and the live view"),
            PlanStep(id="call_site", text="Call the site guard"),
            PlanStep(id="log_police", text="Notify the police if a person is confirmed",
                     required=False)]),
        "video_occluded": Plan(steps=[
            PlanStep(id="check_video", text="Check the live view"),
            PlanStep(id="call_site", text="Call the site to clear the camera")]),
    }


def stage(state: str, outcome: str | None) -> str:
    """The six-step key an alert is at: evaluated once an outcome is recorded."""
    if outcome is not None:
        return "evaluate"
    return next(key for key, _, _, states in STAGES if state in states or key == "evaluate")


def stages() -> list[dict[str, Any]]:
    """The mapping, for the console."""
    return [{"key": k, "zh": zh, "en": en, "states": list(states)}
            for k, zh, en, states in STAGES]
