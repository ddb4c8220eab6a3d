"""The planner orchestrator: a model chooses the actions, and every call it proposes goes through
the same door as a workflow step.

The conversation starts with the spec's instructions (system) and the run's input (user). The
tools are the callable actions (name, description, input contract) and `finish`, whose parameters
are the agent's `output` contract. Each response is recorded whole before any call it proposes
runs; each proposal is answered with one `tool` message: the result, or why it was rejected and
what is allowed. Rejected proposals count against `limits.steps`; the same rejected call three
times in a row ends the run. A resumed run rebuilds the conversation from its events and never asks
the model again for a recorded turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from specc.handling import final
from specc.ir import IR, StrategyIR

from . import events as ev
from .model import ModelClient, ModelFailure, ModelReply, ToolCall, parse_completion
from .run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SUCCEEDED, Done, Failed, Outcome, Paused, Position, Run
from .values import ValueRejected, parse_json, validate

#: The reserved tool that ends the run with the agent's result.
FINISH = "finish"
#: Said to the model after a reply that calls no tool.
REMINDER = "Call one of the tools, or `finish` with the result when the task is done."
#: The same rejected call, proposed this many times in a row, ends the run.
SAME_REJECTED_LIMIT = 3
#: The key `finish` wraps a result in when the agent's output is not an object.
RESULT_KEY = "result"


def tools_for(ir: IR) -> list[dict[str, Any]]:
    """The functions the model may call: the planner's tools and `finish`."""
    assert ir.planner is not None
    functions = []
    for name in ir.planner.tools:
        action = ir.actions[name]
        about = action.description or f"The action `{name}`."
        functions.append(_function(name, about, _inline(action.input_schema)))
    functions.append(_function(FINISH, "End the task with its result, which must meet the agent's output contract.",
                               _finish_schema(ir)))
    return functions


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _finish_schema(ir: IR) -> dict[str, Any]:
    """The agent's `output` contract as an object schema; an output that is not a record is wrapped
    as `{"result": ...}`."""
    schema = _inline(ir.output_schema) if ir.output_schema is not None else None
    if schema is not None and schema.get("type") == "object":
        return schema
    return {"type": "object", "properties": {RESULT_KEY: schema or {}}, "required": [RESULT_KEY],
            "additionalProperties": False}


def _is_record(ir: IR) -> bool:
    schema = _inline(ir.output_schema) if ir.output_schema is not None else None
    return schema is not None and schema.get("type") == "object"


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema whose top is a `$ref` into its own `$defs`, with that definition at the top (the
    `parameters` of a function are an object schema)."""
    ref = schema.get("$ref")
    defs = schema.get("$defs") or {}
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
        inlined = {k: v for k, v in schema.items() if k != "$ref"}
        inlined.update(defs[ref[8:]])
        return inlined
    return schema


@dataclass
class _Conversation:
    """What the model has been told, and where the run stands in it."""

    messages: list[dict[str, Any]]
    turns: int = 0
    proposals: int = 0
    pending: list[tuple[int, int, ToolCall]] = field(default_factory=list)
    streak: tuple[str, int] = ("", 0)


def run_planner(run: Run, client: ModelClient) -> Outcome:
    """Drive the model until it finishes, a handler ends the run, or a person must decide."""
    planner = run.ir.planner
    assert planner is not None
    conversation = _rebuild(run)
    tools = tools_for(run.ir)
    try:
        while True:
            for turn, index, call in conversation.pending:
                ended = _answer(run, conversation, turn, index, call)
                if ended is not None:
                    return ended
            conversation.pending = []
            if conversation.turns >= planner.max_turns:
                spent = run.budget_spent(None, f"the model made {planner.max_turns} requests (`max_turns`) "
                                               "without a valid `finish`")
                return run.stop(spent, None)
            reply = _request(run, client, conversation, tools)
            if isinstance(reply, Outcome):
                return reply
            conversation.turns += 1
            run.record(ev.PlannerTurn(turn=conversation.turns, response=reply.body, usage=reply.usage,
                                      duration_s=round(reply.duration_s, 3)))
            _heard(conversation, reply)
    except KeyboardInterrupt:
        return run.finish("interrupted", EXIT_INTERRUPTED, reason="interrupted by a signal")


def _heard(conversation: _Conversation, reply: ModelReply) -> None:
    """Add a recorded reply to the conversation: its calls wait for answers, or a reminder follows."""
    conversation.messages.append(_assistant(reply))
    if reply.tool_calls:
        conversation.pending = [(conversation.turns, i + 1, call) for i, call in enumerate(reply.tool_calls)]
    else:
        conversation.messages.append({"role": "user", "content": REMINDER})


def _assistant(reply: ModelReply) -> dict[str, Any]:
    """The reply as the next request repeats it, with the ids the answers refer to."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name,
                                                                               "arguments": c.arguments}}
                                 for c in reply.tool_calls]
    return message


def _rebuild(run: Run) -> _Conversation:
    """The conversation so far, from the run's events (empty but for the opening on a fresh run)."""
    planner = run.ir.planner
    assert planner is not None
    opening = [{"role": "system", "content": planner.instructions},
               {"role": "user", "content": json.dumps(run.redact(run.input), ensure_ascii=False)}]
    conversation = _Conversation(opening)
    for stored in run.store.events(run.run_id):
        event = stored.event
        if isinstance(event, ev.PlannerTurn):
            reply = parse_completion(json.dumps(event.response).encode())
            if isinstance(reply, ModelReply):  # a recorded turn always parsed once
                conversation.turns = event.turn
                _heard(conversation, reply)
        elif isinstance(event, ev.PlannerAnswer) and conversation.pending:
            _, index, call = conversation.pending[0]
            if (event.turn, event.call) == (conversation.turns, index):
                conversation.pending.pop(0)
                conversation.proposals += 1
                _told(conversation, call, event.content, rejected=event.outcome == "rejected")
    return conversation


def _told(conversation: _Conversation, call: ToolCall, content: str, *, rejected: bool) -> None:
    conversation.messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    signature = f"{call.name}\0{call.arguments}"
    previous, count = conversation.streak
    conversation.streak = (signature, count + 1 if previous == signature else 1) if rejected else ("", 0)


def _answer(run: Run, conversation: _Conversation, turn: int, index: int, call: ToolCall) -> Outcome | None:
    """Run or reject one proposal and tell the model; an outcome when the run ends or pauses."""
    at = Position(conversation.proposals, f"turn {turn} call {index}", turn, index)
    conversation.proposals += 1
    assert run.ir.planner is not None
    allowed = run.ir.planner.tools

    def reject(reason: str) -> Outcome | None:
        spent = run.spend_step(at)
        if spent is not None:
            return run.stop(spent, at)
        content = f"rejected: {reason}"
        run.record(ev.PlannerAnswer(turn=turn, call=index, tool_call_id=call.id, name=call.name, outcome="rejected",
                                    content=content))
        _told(conversation, call, content, rejected=True)
        if conversation.streak[1] >= SAME_REJECTED_LIMIT:
            return run.finish("failed", EXIT_FAILED, at=at, reason=(
                f"the model proposed the same rejected call to `{call.name}` {SAME_REJECTED_LIMIT} times in a row "
                f"({reason})"))
        return None

    try:
        arguments = parse_json(call.arguments or "{}", "their text")
    except ValueRejected as exc:
        return reject(f"the arguments are not JSON ({exc}); send them as one JSON object")
    if not isinstance(arguments, dict):
        return reject("the arguments must be one JSON object")
    if call.name == FINISH:
        result = arguments if _is_record(run.ir) else arguments.get(RESULT_KEY)
        try:
            if run.ir.output_schema is not None:
                validate(result, run.ir.output_schema, "finish")
        except ValueRejected as exc:
            return reject(f"{exc}; `finish` takes the agent's output contract")
        run.record(ev.PlannerAnswer(turn=turn, call=index, tool_call_id=call.id, name=call.name, outcome="finished",
                                    content="finished"))
        return run.finish("succeeded", EXIT_SUCCEEDED, result=result)
    if call.name not in allowed:
        return reject(f"there is no tool `{call.name}`; the tools are {', '.join(f'`{t}`' for t in allowed)} "
                      f"and `{FINISH}`")
    problem = run.check_arguments(call.name, arguments)
    if problem is not None:
        return reject(problem)
    outcome = run.call(call.name, arguments, at=at)
    if not isinstance(outcome, Done):
        return run.stop(outcome, at)
    content = json.dumps(run.redact(outcome.result), ensure_ascii=False)
    run.record(ev.PlannerAnswer(turn=turn, call=index, tool_call_id=call.id, name=call.name, outcome="ok",
                                content=content))
    _told(conversation, call, content, rejected=False)
    return None


def _request(run: Run, client: ModelClient, conversation: _Conversation,
             tools: list[dict[str, Any]]) -> ModelReply | Outcome:
    """One model turn, with the planner's handlers for a failed request."""
    planner = run.ir.planner
    assert planner is not None
    counters: dict[str, int] = {}
    turn = conversation.turns + 1
    while True:
        if run.budget.remaining_s() <= 0:
            return run.stop(run.budget_spent(None, "the run ran out of its `wall` time"), None)
        reply = client.complete(conversation.messages, tools)
        if isinstance(reply, ModelReply):
            return reply
        run.record(ev.PlannerRequestFailed(turn=turn, kind=reply.kind, detail=reply.detail, status=reply.status,
                                           duration_s=round(reply.duration_s, 3)))
        strategy = planner.handlers[reply.kind].strategy
        if run.retry(strategy, reply.kind, reply.detail, counters, step="planner", action=None,
                     wait_s=reply.retry_after_s):
            continue
        return run.stop(_gave_up(run, strategy, reply), None)


def _gave_up(run: Run, strategy: StrategyIR, failure: ModelFailure) -> Failed | Paused:
    then = final(strategy) or StrategyIR(kind="abort")
    reason = then.reason or f"the model request failed with `{failure.kind}`: {failure.detail}"
    run.record(ev.Handler(step="planner", kind=failure.kind, detail=failure.detail, strategy=then.kind,
                          reason=reason))
    if then.kind == "escalate":
        return Paused("escalated", reason)
    return Failed(reason, kind=failure.kind)


ClientFactory = Callable[[IR, dict[str, str]], ModelClient]


def model_client(ir: IR, env: dict[str, str]) -> ModelClient:
    """The client for the planner of `ir`, from the env vars its spec names."""
    planner = ir.planner
    assert planner is not None
    api_key = env.get(planner.api_key_env) if planner.api_key_env else None
    return ModelClient(env[planner.endpoint_env], planner.model, api_key=api_key,
                       timeout_s=planner.timeout_ms / 1000)
