"""The run's data model: one typed event per thing that happens in a run.

Every writer builds one of these models and every reader (resume, `show`, `verify`, `approve`,
`resolve`, approval expiry, the live progress) reads the same models back; the JSON of an event is
its model's fields, which is what `specc show --json` prints and docs/events.md documents.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError


class RunEvent(BaseModel):
    """The base of every event model; `KIND` is the event's name in the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    KIND: ClassVar[str] = ""
    #: The fields that carry what tools, people and models said, where a secret may stand; only
    #: they are redacted, so the runtime's own fields (kinds, indexes, names) always read back.
    PAYLOAD: ClassVar[frozenset[str]] = frozenset()

    def data(self) -> dict[str, Any]:
        """The event's JSON object, as the store keeps it."""
        return self.model_dump(mode="json")


class Sealed(BaseModel):
    """A value that held a secret, encrypted for resume (`runtime/sealing.py`): the env vars whose
    secrets it held, and the ciphertext (base64 of salt, nonce and AES-GCM box)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: list[str]
    box: str


# -- the run -------------------------------------------------------------------------------------


class RunStarted(RunEvent):
    """A fresh run began with this (redacted) input and these options; `sealed` keeps the exact
    input for resume when it holds a secret."""

    KIND: ClassVar[str] = "run_started"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"input"})
    agent: str = ""
    spec_hash: str = ""
    input: Any = None
    approval_timeout_s: float | None = None
    egress_options: dict[str, Any] = {}
    sealed: Sealed | None = None


class RunResumed(RunEvent):
    """`specc resume` took the run up again."""

    KIND: ClassVar[str] = "run_resumed"
    finished_steps: list[int] = []
    used_steps: int = 0
    wall_used_s: float = 0.0


class RunFinished(RunEvent):
    """The run ended or paused; `index` is the step it stopped at (None outside a step)."""

    KIND: ClassVar[str] = "run_finished"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"reason", "result"})
    status: str
    exit_code: int
    reason: str | None = None
    step: str | None = None
    index: int | None = None
    result: Any = None
    used_steps: int = 0
    wall_used_s: float = 0.0


# -- steps and attempts --------------------------------------------------------------------------


class StepStarted(RunEvent):
    KIND: ClassVar[str] = "step_started"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"arguments"})
    index: int
    step: str
    action: str
    arguments: Any = None


class StepFinished(RunEvent):
    """A step's result is final; `source` is "person" when `specc resolve --result` supplied it;
    `sealed` keeps the exact result for resume when it holds a secret."""

    KIND: ClassVar[str] = "step_finished"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"result"})
    index: int
    step: str = ""
    action: str = ""
    result: Any = None
    source: Literal["action", "person"] = "action"
    sealed: Sealed | None = None


class StepReused(RunEvent):
    """A resumed run took a finished step's recorded result instead of running it again."""

    KIND: ClassVar[str] = "step_reused"
    index: int
    step: str
    action: str


class AttemptIntent(RunEvent):
    """Written before the attempt's container starts: a crash after it leaves the attempt dangling."""

    KIND: ClassVar[str] = "attempt_intent"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"arguments"})
    index: int | None = None
    step: str = ""
    action: str = ""
    attempt: int = 0
    arguments: Any = None
    image: str = ""
    timeout_s: float = 0.0


class AttemptOutcome(RunEvent):
    """How an attempt ended: `kind` is "ok" or a failure kind."""

    KIND: ClassVar[str] = "attempt_outcome"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"detail", "stdout", "stderr"})
    index: int | None = None
    step: str
    action: str
    attempt: int
    kind: str
    detail: str
    exit_code: int | None = None
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    sandbox: dict[str, Any] = {}


class Connection(RunEvent):
    """One connection attempt through an action's egress proxy and its decision."""

    KIND: ClassVar[str] = "connection"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"host", "reason", "address", "method"})
    action: str
    host: str
    port: int
    allowed: bool
    reason: str
    address: str | None = None
    method: str = ""


# -- handlers and guards -------------------------------------------------------------------------


class Handler(RunEvent):
    """A handler decided what a failure leads to: a retry (with its backoff) or the final strategy."""

    KIND: ClassVar[str] = "handler"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"detail", "reason"})
    step: str | None = None
    index: int | None = None
    action: str | None = None
    kind: str
    detail: str | None = None
    strategy: str
    reason: str | None = None
    target: str | None = None
    retry: int | None = None
    backoff_s: float | None = None


class RequireFailed(RunEvent):
    KIND: ClassVar[str] = "require_failed"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"what", "reason"})
    what: str
    strategy: str
    reason: str
    #: where: the step the guard belongs to (a workflow `require`'s own, or the call's); absent in
    #: logs written before it was recorded
    index: int | None = None
    step: str | None = None


class RequireWaived(RunEvent):
    """A person let the run go on past an escalated `require`."""

    KIND: ClassVar[str] = "require_waived"
    index: int
    line: int | None = None


# -- people --------------------------------------------------------------------------------------


class ApprovalPending(RunEvent):
    """The run paused for a person's approval of these exact arguments."""

    KIND: ClassVar[str] = "approval_pending"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"arguments"})
    digest: str
    index: int | None = None
    step: str | None = None
    action: str | None = None
    arguments: Any = None
    effect: str | None = None
    risk: str | None = None
    timeout_s: float | None = None


class ApprovalDecided(RunEvent):
    """A decision on an approval: by a person on the terminal or `specc approve`, or by the timeout."""

    KIND: ClassVar[str] = "approval_decided"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"reason"})
    digest: str
    index: int | None = None
    step: str | None = None
    action: str | None = None
    approved: bool
    by: str
    reason: str | None = None
    via: Literal["terminal", "cli", "timeout", "elicitation"]


class ApprovalUsed(RunEvent):
    """A decision was spent on the call it was bound to; it applies to nothing else."""

    KIND: ClassVar[str] = "approval_used"
    digest: str
    index: int | None = None
    step: str | None = None
    approved: bool
    by: str


class EscalationResolved(RunEvent):
    """`specc resolve`: a person's decision on an escalated run."""

    KIND: ClassVar[str] = "escalation_resolved"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"result", "reason"})
    index: int | None = None
    decision: Literal["retry", "abort", "result"]
    result: Any = None
    by: str
    reason: str | None = None
    source: Literal["person"] = "person"


class ResolutionUsed(RunEvent):
    """A resumed run applied the person's decision at this step."""

    KIND: ClassVar[str] = "resolution_used"
    index: int


# -- the planner ---------------------------------------------------------------------------------


class PlannerTurn(RunEvent):
    """A model response, recorded whole before any call it proposes runs: a resumed run never asks
    the model again for a recorded turn."""

    KIND: ClassVar[str] = "planner_turn"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"response"})
    turn: int
    response: dict[str, Any]
    usage: dict[str, Any] | None = None
    duration_s: float = 0.0


class PlannerAnswer(RunEvent):
    """What the model was told about one call it proposed: the result, why it was rejected, or
    that `finish` ended the run."""

    KIND: ClassVar[str] = "planner_answer"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"content"})
    turn: int
    call: int
    tool_call_id: str
    name: str
    outcome: Literal["ok", "rejected", "finished"]
    content: str


class PlannerRequestFailed(RunEvent):
    """A request to the model failed; the planner's handler for `kind` decides what follows."""

    KIND: ClassVar[str] = "planner_request_failed"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"detail"})
    turn: int
    kind: str
    detail: str
    status: int | None = None
    duration_s: float = 0.0


class SessionOpened(RunEvent):
    """`specc serve`: the MCP session this run is; its calls follow as steps named `call N`."""

    KIND: ClassVar[str] = "session_opened"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"client"})
    transport: Literal["stdio", "http"]
    client: str | None = None
    protocol: str | None = None
    approvals: Literal["out-of-band", "elicit"]


class CallRefused(RunEvent):
    """`specc serve`: a call no action could take (an unknown tool, arguments over the size a call
    may carry), answered with an error; nothing ran."""

    KIND: ClassVar[str] = "call_refused"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"tool", "reason"})
    index: int
    tool: str
    reason: str


class CallCancelled(RunEvent):
    """`specc serve`: a call stopped before its end (the client cancelled it or went away, or the
    server stopped): its attempt was killed and its container removed; the session goes on."""

    KIND: ClassVar[str] = "call_cancelled"
    PAYLOAD: ClassVar[frozenset[str]] = frozenset({"reason"})
    index: int
    tool: str
    reason: str


class Unreadable(RunEvent):
    """An event whose stored data no model admits (an older or damaged log); shown, never trusted."""

    model_config = ConfigDict(extra="allow", frozen=True)
    KIND: ClassVar[str] = "unreadable"


#: Every event kind and its model.
EVENT_TYPES: dict[str, type[RunEvent]] = {
    model.KIND: model
    for model in (
        RunStarted, RunResumed, RunFinished, StepStarted, StepFinished, StepReused, AttemptIntent,
        AttemptOutcome, Connection, Handler, RequireFailed, RequireWaived, ApprovalPending,
        ApprovalDecided, ApprovalUsed, EscalationResolved, ResolutionUsed, PlannerTurn, PlannerAnswer,
        PlannerRequestFailed, SessionOpened, CallRefused, CallCancelled,
    )
}


def parse(kind: str, data: dict[str, Any]) -> RunEvent:
    """The model of a stored event; `Unreadable` when its kind or data is unknown."""
    model = EVENT_TYPES.get(kind)
    if model is not None:
        try:
            return model.model_validate(data)
        except ValidationError:
            pass
    return Unreadable.model_validate(data)
