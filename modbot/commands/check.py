"""Score one text and explain the decision: every score, every pattern match with its span, the rules
evaluated, the rule that fired and the action. --json prints one object for scripts."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from typing import Any

from modbot.commands.common import add_config_argument, add_scorers_argument, settings_from_args
from modbot.config import Settings
from modbot.models import Author, Comment
from modbot.pipeline import build_scorers, close_scorers, pattern_categories, score_batch
from modbot.rules import load_rules, unused_rules_warnings
from modbot.scoring.base import Scorer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_scorers_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--explain", action="store_true",
                        help="also show how the toxicity model computes (int8, float16 or float32) and, below "
                             "float32, the float32 model's scores for the same text and the largest difference")
    parser.add_argument("--site", default=None, help="site the comment is from (per-site thresholds)")
    parser.add_argument("--thread", default="", help="thread id (per-thread thresholds)")
    parser.add_argument("--author-age-days", type=float, default=None, help="author's account age in days")
    parser.add_argument("--approved-count", type=int, default=0, help="author's approved comments")
    parser.add_argument("--author-flag", action="append", default=[], help="author trust flag (repeatable)")
    parser.add_argument("text", help="the comment text, or - to read it from standard input")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    result = asyncio.run(check(settings, _comment(args), explain_model=args.explain))
    text = result.pop("_explain_text")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(render(result, text))
    return 0


def _comment(args: argparse.Namespace) -> Comment:
    author = Author(id="cli", name="cli", account_age_days=args.author_age_days,
                    approved_count=args.approved_count, flags=frozenset(args.author_flag))
    text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
    return Comment(id="check", text=text, author=author, thread_id=args.thread, site=args.site)


async def check(settings: Settings, comment: Comment, explain_model: bool = False) -> dict[str, Any]:
    """Everything `modbot check` reports, as one JSON-ready dict (with `explain_model`, the toxicity model's
    precision and, when it runs int8 or float16, how far the float32 model's scores for the same text are)."""
    scorers = await build_scorers(settings)
    try:
        ruleset = load_rules(settings.rules.file, pattern_categories(scorers))
        scores = (await score_batch(scorers, [comment]))[0]
        model = await _model_explanation(settings, scorers, comment, dict(scores.labels)) if explain_model else None
    finally:
        await close_scorers(scorers)
    explanation = ruleset.explain(comment, scores, settings.rules.budget_ms / 1000)
    verdict = explanation.verdict  # explain evaluates every rule once; no second pass needed
    return {
        "action": verdict.action.value,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "scores": dict(scores.labels),
        "matches": [m.to_dict() for m in scores.matches],
        "scorer_errors": dict(scores.errors),
        "scorers": [s.name for s in scorers],
        "rules_version": ruleset.version,
        "explain": explanation.to_dict(),
        "warnings": unused_rules_warnings(ruleset, settings.scorers.enabled),
        **({"toxicity_model": model} if explain_model else {}),
        "_explain_text": "\n".join(explanation.lines()),
    }


async def _model_explanation(settings: Settings, scorers: list[Scorer], comment: Comment,
                             scores: dict[str, float]) -> dict[str, Any] | None:
    """The toxicity model's version and precision; below float32 (int8, float16), the float32 scores of the same
    text (the model loaded a second time, on the same device, with `quantize: false`) and the largest
    difference. None without the toxicity scorer."""
    from modbot.scoring.toxicity import ToxicityScorer

    scorer = next((s for s in scorers if isinstance(s, ToxicityScorer)), None)
    if scorer is None:
        return None
    out: dict[str, Any] = {"version": scorer.version, "precision": scorer.precision,
                           "device": settings.scorers.toxicity.device}
    if scorer.precision != "float32":
        exact = await ToxicityScorer.load(replace(settings.scorers.toxicity, quantize=False))
        try:
            reference = (await exact.score([comment]))[0].labels
        finally:
            await exact.close()
        out["float32_scores"] = dict(reference)
        out["largest_difference"] = max((abs(scores[k] - v) for k, v in reference.items() if k in scores),
                                        default=0.0)
    return out


def render(result: dict[str, Any], explain_text: str) -> str:
    lines = [f"action: {result['action']}", f"rule:   {result['rule'] or '(default)'}",
             f"reason: {result['reason']}", "", f"scores ({', '.join(result['scorers'])}):"]
    if not result["scores"]:
        lines.append("  (no model scores)")
    for label, value in sorted(result["scores"].items()):
        lines.append(f"  {label:<18} {value:.4f}")
    lines.append("matches:")
    if not result["matches"]:
        lines.append("  (none)")
    for m in result["matches"]:
        stance = m["stance"] + (f" — cue: {m['cue']!r}" if m.get("cue") else "")
        lines.append(f"  [{m['start']}:{m['end']}] {m['category']} / {m['pattern']} (severity {m['severity']}): "
                     f"{m['text']!r}, {stance}")
    model = result.get("toxicity_model")
    if model:
        lines.append(f"toxicity model: {model['version']} ({model['precision']} on {model['device']})")
        if "float32_scores" in model:
            lines.append(f"  {model['precision']} vs float32 for this text: largest difference "
                         f"{model['largest_difference']:.4f}")
            for label, value in sorted(model["float32_scores"].items()):
                lines.append(f"  {label:<18} float32 {value:.4f}")
    elif "toxicity_model" in result:
        lines.append("toxicity model: not in use (scorers: " + ", ".join(result["scorers"]) + ")")
    for warning in result["warnings"]:
        lines.append(f"warning: {warning}")
    for name, error in result["scorer_errors"].items():
        lines.append(f"scorer {name} FAILED: {error}")
    lines += ["", "rules:", explain_text]
    return "\n".join(lines)
