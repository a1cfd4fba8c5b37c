"""Every example in docs/rules.md is valid: whole files parse, and each one-line condition parses as a rule's `when`."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from modbot.rules import parse_rules

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
HEAD = "version: 1\nthresholds: {toxic: 0.8, identity_hate: 0.6}\nrules:\n  - id: r\n    action: hold\n    when:\n"


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_doc_examples_parse() -> None:
    checked = 0
    for block in blocks():
        if block.startswith(("version:", "thresholds:", "defaults:")):
            if not re.search(r"^rules:", block, re.MULTILINE):  # a section shown alone; a file needs a rule too
                block += "rules:\n  - id: r\n    action: hold\n    when: {text: [x]}\n"
            parse_rules(block.encode(), "doc")
        elif block.startswith("- id:"):
            parse_rules(("version: 1\nrules:\n" + textwrap.indent(block, "  ")).encode(), "doc")
        elif block.startswith("when:"):
            parse_rules(("version: 1\nrules:\n  - id: r\n    action: hold\n" + textwrap.indent(block, "    "))
                        .encode(), "doc")
        elif block.startswith("reason:"):
            for line in block.splitlines():
                parse_rules((HEAD.replace("    when:\n", f"    {line}\n    when:\n") + "      text: [x]\n")
                            .encode(), "doc")
        else:
            # One condition per line (a `score:` list spans several lines and is checked as one).
            items = re.split(r"\n(?=\S)", block.strip())
            for item in items:
                parse_rules((HEAD + textwrap.indent(item, "      ") + "\n").encode(), "doc")
        checked += 1
    assert checked >= 12
