"""What each agent is told: trusted instructions outside, everything observed in the cluster inside
an untrusted-data envelope, all of it redacted, within the input-token budget.

The envelope's markers carry a random nonce per request, so text in a log cannot close it early;
the data inside is one JSON document, so an injected "instruction" arrives as a quoted string.
Every string sent passes through `redaction.mask` here, as the last step, whatever was masked
upstream: this is the one place a prompt is assembled. No LangChain import: messages are
(system, human) text pairs; `stages` turns them into LangChain messages.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aegis.core import objects, redaction
from aegis.core.agents import scope
from aegis.core.agents.answers import SCHEMAS, Stage
from aegis.core.models import Category, Diagnosis, Evidence, FixProposal, KubeObject, RCAResult, VerificationPlan
from aegis.core.objects import clean_for_diff

PROMPTS = Path(__file__).resolve().parent / "prompts"
CHARS_PER_TOKEN = 4  # a conservative estimate for English and JSON with common tokenizers
_EXCERPT_STEPS = (2000, 600, 200, 0)  # excerpt lengths tried, longest first, until the prompt fits


class BudgetExceeded(Exception):  # noqa: N818 - a reason to skip the model, not an error of AEGIS
    """Even with excerpts dropped, the prompt does not fit AEGIS_LLM_MAX_INPUT_TOKENS."""


@dataclass(frozen=True)
class Prompt:
    stage: Stage
    system: str
    human: str

    @property
    def estimated_tokens(self) -> int:
        return (len(self.system) + len(self.human)) // CHARS_PER_TOKEN + 1


@cache
def template(name: str) -> str:
    return (PROMPTS / f"{name}.md").read_text(encoding="utf-8")


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def rca_prompt(diagnosis: Diagnosis, *, max_tokens: int) -> Prompt:
    def data(excerpt: int) -> dict[str, Any]:
        return {"hypothesis": _rca_data(diagnosis.rca), "evidence": _evidence(diagnosis.evidence, diagnosis.rca, excerpt)}

    task = template("rca").format(categories=", ".join(c.value for c in Category))
    return _fit("rca", task, data, max_tokens)


def solution_prompt(diagnosis: Diagnosis, rca: RCAResult, target: KubeObject, *, max_tokens: int) -> Prompt:
    kind = str(target.get("kind", ""))
    task = template("solution").format(
        target=json.dumps(objects.ref(target).model_dump()),
        category=rca.category.value,
        allowed=", ".join(scope.ALLOWED.get(rca.category, ())) or "(nothing)",
        pod=objects.pod_template_path(kind),
    )
    current = diagnosis.fix if diagnosis.fix and diagnosis.fix.target == objects.ref(target) else None

    def data(excerpt: int) -> dict[str, Any]:
        return {
            "root_cause": _rca_data(rca),
            "object": redaction.redact_object(clean_for_diff(target)),
            "current_fix": _fix_data(current) if current else None,
            "evidence": _evidence(diagnosis.evidence, rca, excerpt),
        }

    return _fit("solution", task, data, max_tokens)


def verifier_prompt(fix: FixProposal, plan: VerificationPlan | None, workload: KubeObject | None, *, max_tokens: int) -> Prompt:
    ports = sorted(
        {int(p["containerPort"]) for c in objects.containers(objects.pod_spec(workload)) for p in c.get("ports") or [] if "containerPort" in p}
    ) if workload else []  # fmt: skip

    def data(_: int) -> dict[str, Any]:
        return {
            "fix": _fix_data(fix),
            "current_plan": plan.model_dump(mode="json", exclude={"author"}) if plan else None,
            "ports": ports,
        }

    return _fit("verifier", template("verifier"), data, max_tokens)


def _fit(stage: Stage, task: str, data: Any, max_tokens: int) -> Prompt:
    for excerpt in _EXCERPT_STEPS:
        nonce = secrets.token_hex(8)
        system = template("system").format(nonce=nonce)
        payload = json.dumps(data(excerpt), indent=1, ensure_ascii=False, default=str)
        schema = json.dumps(SCHEMAS[stage].model_json_schema(), separators=(",", ":"))
        human = (
            f"{task}\n"
            f"## Data\n<<<UNTRUSTED-DATA {nonce}\n{_defang(payload, nonce)}\nUNTRUSTED-DATA {nonce}>>>\n\n"
            "## Answer format\nOne JSON object matching this JSON Schema, and nothing else (no prose, no code fence):\n"
            f"{schema}\n"
        )
        prompt = Prompt(stage, redaction.mask(system), redaction.mask(human))
        if prompt.estimated_tokens <= max_tokens:
            return prompt
    raise BudgetExceeded(f"the {stage} prompt needs about {prompt.estimated_tokens} tokens, over AEGIS_LLM_MAX_INPUT_TOKENS={max_tokens}")


def _defang(payload: str, nonce: str) -> str:
    """Data can neither contain this request's nonce nor a marker that looks like the envelope's."""
    return payload.replace(nonce, "[nonce]").replace("UNTRUSTED-DATA", "UNTRUSTED_DATA")


def _rca_data(rca: RCAResult) -> dict[str, Any]:
    return rca.model_dump(mode="json", exclude={"author"})


def _fix_data(fix: FixProposal) -> dict[str, Any]:
    return {
        "target": fix.target.model_dump(),
        "patch": fix.patch_json(),
        "summary": fix.summary,
        "decision_rationale": fix.decision_rationale,
        "risk": fix.risk.value,
        "alternatives_rejected": fix.alternatives_rejected,
    }


def _evidence(items: list[Evidence], rca: RCAResult, excerpt: int) -> list[dict[str, Any]]:
    """Evidence as data; cited items keep their excerpts longest, the others lose theirs first."""
    cited = set(rca.evidence_ids)
    out = []
    for e in items:
        limit = excerpt if e.id in cited else excerpt // 4
        out.append({
            "id": e.id, "kind": e.kind.value, "summary": e.summary,
            "excerpt": _clip(e.excerpt, limit), "source": str(e.source) if e.source else None,
        })  # fmt: skip
    return out


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return "(earlier lines cut) …" + text[-limit:] if limit else ""
