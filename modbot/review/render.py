"""HTML for the review page, built server-side from escaped pieces.

Comment text is written by the public: every piece of it goes through html.escape, and matched spans are
highlighted by cutting the original text at span boundaries and escaping each segment separately, so a
span can never open or close markup. Templates are package files filled with string.Template; every
value put into them is escaped here first.

Bidi controls and control characters written by the public are shown, not obeyed: each becomes a visible
marker such as <U+202E>, so an author name made of U+202E (right-to-left override) and reversed letters
cannot display as "live admin (moderator)", and a comment cannot reverse or hide part of itself. In names and
ids, invisible characters (zero-width space and joiners, soft hyphen, BOM) are marked too.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import urlencode, urlsplit

from modbot.decisions import AUTHOR_HISTORY
from modbot.models import Decision, Match
from modbot.review.escalation import MAX_NOTE_CHARS, Escalation
from modbot.review.history import AuthorHistory
from modbot.review.pending import PendingVerdict
from modbot.review.queue import Filters, QueueView, ReviewItem
from modbot.rules.patternstats import PatternStats

Figures = Mapping[tuple[str, str], PatternStats]  # (entry, stance) -> its counters

ACTIONS = (("approve", "Approve", "a"), ("reject", "Reject", "r"), ("spam", "Spam", "s"),
           ("escalate", "Escalate", "e"))
_CLASS_SAFE = re.compile(r"[^a-z0-9-]+")


_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u00ad\u200b-\u200d\u2060\ufeff"
# In comment text, line breaks and tabs are the author's layout and stay; every other control is marked.
_TEXT_UNSAFE = re.compile(f"[{_BIDI}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NAME_UNSAFE = re.compile(f"[{_BIDI}{_INVISIBLE}\x00-\x1f\x7f-\x9f]")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _marker(char: str) -> str:
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "control character")
    return f'<span class="ctl" title="{esc(f"{code} {name}")}">&lt;{code}&gt;</span>'


def shown(value: object, unsafe: re.Pattern[str] = _NAME_UNSAFE) -> str:
    """`value` escaped for HTML, with each bidi control, control or invisible character replaced by a visible
    marker (<U+202E>): for names, ids and other short values written by the public."""
    text = str(value)
    out: list[str] = []
    pos = 0
    for m in unsafe.finditer(text):
        out.append(esc(text[pos:m.start()]))
        out.append(_marker(m.group()))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def shown_text(value: str) -> str:
    """Comment text escaped for HTML, bidi controls and controls (but not line breaks and tabs) marked."""
    return shown(value, _TEXT_UNSAFE)


@cache
def template(name: str) -> Template:
    return Template(resources.files("modbot.review").joinpath("templates", name).read_text(encoding="utf-8"))


def highlight(text: str, matches: Sequence[Match]) -> str:
    """`text` as HTML with each matched span in a <mark>; overlapping spans are merged into one mark."""
    spans: list[tuple[int, int, list[Match]]] = []
    for m in sorted(matches, key=lambda m: (m.start, m.end)):
        start, end = max(0, m.start), min(len(text), m.end)
        if end <= start:
            continue  # a span outside the text (stale decision): nothing to mark
        if spans and start < spans[-1][1]:
            s, e, ms = spans[-1]
            spans[-1] = (s, max(e, end), [*ms, m])
        else:
            spans.append((start, end, [m]))
    out: list[str] = []
    pos = 0
    for start, end, ms in spans:
        out.append(shown_text(text[pos:start]))
        cats = sorted({m.category for m in ms})
        classes = " ".join(_category_class(c) for c in cats)
        title = "; ".join(f"{m.category}: {m.pattern}" for m in ms)
        out.append(f'<mark class="{esc(classes)}" title="{esc(title)}">{shown_text(text[start:end])}</mark>')
        pos = end
    out.append(shown_text(text[pos:]))
    return "".join(out)


def _category_class(category: str) -> str:
    """The CSS class of a pattern category (review.css colours each): hate_symbols -> cat-hate-symbols."""
    return "cat-" + _CLASS_SAFE.sub("-", category.lower())


def safe_link(url: str | None) -> str | None:
    """The URL if it is plain http(s); anything else (javascript:, data:, ...) is not made a link."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _when(value: datetime | None) -> str:
    if value is None:
        return "unknown time"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_escalation(escalation: Escalation | None) -> str:
    """Who passed the comment on, when, and their note (escaped, controls marked, line breaks kept)."""
    if escalation is None:
        return ('<p class="escalation">Escalated; who, when and why were not recorded '
                '(escalated before modbot kept them, see the audit stream).</p>')
    line = (f'<p class="escalation">Escalated by <strong class="escalator">{shown(escalation.moderator)}</strong> '
            f'on <time datetime="{esc(escalation.at.isoformat())}">{esc(_when(escalation.at))}</time>'
            f'{":" if escalation.note else " without a note"}</p>')
    if escalation.note:
        line += f'<blockquote class="escalation-note">{shown_text(escalation.note)}</blockquote>'
    return line


def _decided_by(decision: Decision) -> str:
    if decision.source == "moderator":
        return f'moderator <span class="history-who">{shown(decision.moderator or "(unknown)")}</span>'
    return f'rule <span class="history-rule">{shown(decision.rule or "(default)")}</span>'


def render_history(history: AuthorHistory | None) -> str:
    """The author panel: counts by action over their other recent decisions on this site, moderators' verdicts,
    and the latest few with rule, action and date (every value escaped, controls marked)."""
    if history is None:
        return ""
    if not history.decisions:
        return ('<section class="history" aria-label="author history"><h3>Author history</h3>'
                '<p class="history-none">No other decisions recorded for this author on this site '
                '(modbot records them from the version that added this panel on).</p></section>')
    n = len(history.decisions)
    counts = ", ".join(f'<span class="history-{esc(action)}">{esc(action)} {count}</span>'
                       for action, count in sorted(history.by_action.items(), key=lambda kv: (-kv[1], kv[0])))
    verdicts = history.verdicts
    recent = "".join(
        f'<li><span class="history-action">{esc(d.action.value)}</span> by {_decided_by(d)}'
        f' <time datetime="{esc(d.decided_at.isoformat())}">{esc(_when(d.decided_at))}</time></li>'
        for d in history.recent)
    return (f'<section class="history" aria-label="author history"><h3>Author history</h3>'
            f'<p class="history-counts">Last {n} other comment{"s" if n != 1 else ""}'
            f'{f" (at most {AUTHOR_HISTORY} kept)" if n >= AUTHOR_HISTORY else ""}: {counts}</p>'
            f'<p class="history-verdicts">Moderators upheld {verdicts["upheld"]} hold'
            f'{"s" if verdicts["upheld"] != 1 else ""}, overturned {verdicts["overturned"]}</p>'
            f'<ol class="history-recent">{recent}</ol></section>')


# A <textarea>, not a one-line input: Enter in a text input would submit the form with its first button (approve).
NOTE_FIELD = ('<details class="note"><summary>Note for escalation</summary>'
              f'<textarea name="note" rows="2" maxlength="{MAX_NOTE_CHARS}" aria-label="note for the escalation" '
              'placeholder="optional: what a senior moderator should look at"></textarea></details>')


def render_figures(stats: PatternStats | None) -> str:
    """How moderators judged holds with this entry matched with this stance: "this entry: 12 upheld, 30
    overturned", and the precision with its 95 % Wilson interval."""
    if stats is None:
        return ""
    title = (f"moderators' verdicts on held comments where {stats.entry!r} matched as {stats.stance}; "
             f"precision = upheld / (upheld + overturned), with its 95 % Wilson interval; "
             f"fired {stats.fired}, held {stats.held}")
    if not stats.reviewed:
        return f'<span class="figures" title="{esc(title)}">this entry: no verdicts yet</span>'
    low, high = stats.interval or (0.0, 1.0)
    return (f'<span class="figures" title="{esc(title)}">this entry: {stats.upheld} upheld, '
            f'{stats.overturned} overturned &middot; precision {stats.precision or 0:.0%} '
            f'({low:.0%}&ndash;{high:.0%})</span>')


def render_item(item: ReviewItem, csrf: str, me: str, index: int, history: AuthorHistory | None = None,
                figures: Figures | None = None) -> str:
    c, d = item.comment, item.decision
    cid = esc(c.id)
    claimed_by_other = item.claimed_by is not None and item.claimed_by != me
    claim = (f'<span class="claim">claimed by {esc(item.claimed_by)}</span>' if claimed_by_other
             else '<span class="claim"></span>')
    scores = "".join(f'<tr><th scope="row">{esc(label)}</th><td>{value:.3f}</td></tr>'
                     for label, value in sorted(d.scores.items(), key=lambda kv: -float(kv[1])))
    errors = "".join(f"<li>{esc(name)} failed: {esc(msg)}</li>" for name, msg in d.scorer_errors.items())
    matches = "".join(
        f'<li><span class="cat {_category_class(m.category)}">{esc(m.category)}</span> <code>{esc(m.pattern)}</code> '
        f'&ldquo;{shown_text(m.text)}&rdquo; <span class="span">[{m.start}&ndash;{m.end}]</span> '
        f'<span class="stance stance-{m.stance.value}">{shown_text(m.describe_stance())}</span>'
        f'{render_figures((figures or {}).get((m.pattern, m.stance.value)))}</li>'
        for m in d.matches)
    a = c.author
    age = "unknown" if a.account_age_days is None else f"{a.account_age_days:.0f} days"
    flags = ", ".join(sorted(a.flags)) or "none"
    link = safe_link(c.thread_url)
    if link:
        thread = (f'<a class="thread" href="{esc(link)}" rel="noopener noreferrer" target="_blank">'
                  f'thread {shown(c.thread_id or link)}</a>')
    else:
        thread = f'<span class="thread">thread {shown(c.thread_id)}</span>'

    disabled = " disabled" if claimed_by_other else ""
    buttons = "".join(f'<button type="submit" name="action" value="{v}" class="act-{v}"{disabled}>'
                      f'{label} <kbd>{key}</kbd></button>' for v, label, key in ACTIONS
                      if not (v == "escalate" and item.queue == "escalated"))
    return template("item.html").substitute(
        id=cid, index=index, queue=esc(item.queue),
        claimed=" claimed" if claimed_by_other else "", claim=claim,
        holder=esc(item.claimed_by) if claimed_by_other and item.claimed_by else "",
        rule=esc(d.rule or "(default)"), priority=d.priority, action=esc(d.action.value),
        created=esc(_when(c.created_at)), decided=esc(_when(d.decided_at)),
        text=highlight(c.text, d.matches), reason=shown_text(d.reason),
        author_name=shown(a.name or "(no name)"), author_id=shown(a.id), author_age=esc(age),
        author_approved=a.approved_count, author_flags=shown(flags), site=shown(c.site or ""),
        history=render_history(history),
        scores=scores or '<tr><td colspan="2">no scores</td></tr>',
        errors=f'<ul class="errors">{errors}</ul>' if errors else "",
        matches=f'<ul class="matches">{matches}</ul>' if matches else '<p class="nomatch">no pattern matched</p>',
        thread=thread, csrf=esc(csrf), buttons=buttons, sha=esc(item.version),
        escalation=render_escalation(item.escalation) if item.queue == "escalated" else "",
        note=NOTE_FIELD if item.queue == "held" and not claimed_by_other else "",
    )


def _options(plural: str, values: Mapping[str, int], selected: str | None) -> str:
    opts = [f'<option value="">all {plural}</option>']
    for value, n in sorted(values.items()):
        sel = " selected" if value == selected else ""
        opts.append(f'<option value="{esc(value)}"{sel}>{esc(value)} ({n})</option>')
    return "".join(opts)


LATE_HELP = "too late: already sent (or the verdict was another moderator's)."
REFUSED_HELP = ("the comment changed (edited) while you judged it, another moderator holds it, or it was already "
                "judged. Check the comments below again.")


def render_pending(pending: Sequence[PendingVerdict], me: str, csrf: str, queue: str) -> str:
    """The verdicts waiting out their undo window (no longer in any queue): what, by whom, when they are sent;
    one's own with an Undo button that works without JavaScript."""
    if not pending:
        return ""
    rows = []
    for p in pending:
        undo = (f'<form method="post" action="/undo"><input type="hidden" name="csrf" value="{esc(csrf)}">'
                f'<input type="hidden" name="ids" value="{esc(p.comment_id)}">'
                f'<input type="hidden" name="queue" value="{esc(queue)}"><button type="submit">Undo</button></form>'
                if p.moderator == me else "")
        due = datetime.fromtimestamp(p.due, UTC)
        rows.append(f'<li data-id="{esc(p.comment_id)}" data-due="{int(p.due * 1000)}">'
                    f'<span class="pending-action">{esc(p.action.value)}</span> comment '
                    f'<span class="pending-id">{shown(p.comment_id)}</span> by {shown(p.moderator)}, sent at '
                    f'<time datetime="{esc(due.isoformat())}">{esc(due.strftime("%H:%M:%S UTC"))}</time>{undo}</li>')
    return (f'<section class="pending" id="pending" aria-label="verdicts waiting to be sent"><h2>Waiting to be sent '
            f'(undo possible)</h2><ul>{"".join(rows)}</ul></section>')


def render_queue(view: QueueView, queue: str, filters: Filters, csrf: str, me: str,
                 refused: Sequence[str] = (), histories: Mapping[str, AuthorHistory] | None = None, *,
                 figures: Figures | None = None, pending: Sequence[PendingVerdict] = (), late: Sequence[str] = (),
                 undo_s: float = 0) -> str:
    """The whole review page; `refused` names the ids of a form post's verdicts that were not applied, `late`
    those of undos that came too late; `histories` holds each item's author history by comment id (no panel for
    an item without one), `figures` the per-entry counters of the matches shown, `pending` the verdicts waiting
    out their undo window of `undo_s` seconds."""
    tabs = "".join(
        f'<a class="tab{" current" if q == queue else ""}" href="/?{esc(urlencode({"queue": q}))}">'
        f'{q} <span class="count" id="count-{q}">{view.counts.get(q, 0)}</span></a>' for q in ("held", "escalated"))
    items = "".join(render_item(item, csrf, me, i, (histories or {}).get(item.comment.id), figures)
                    for i, item in enumerate(view.items))
    if not items:
        items = '<p class="empty">Nothing to review here.</p>'
    n_shown = len(view.items)
    batch = "".join(f'<button type="submit" name="action" value="{v}" class="act-{v}">{label} selected</button>'
                    for v, label, _ in ACTIONS if not (v == "escalate" and queue == "escalated"))
    body = template("queue.html").substitute(
        me=esc(me), csrf=esc(csrf), tabs=tabs, queue=esc(queue),
        rule_options=_options("rules", view.rules, filters.rule),
        category_options=_options("categories", view.categories, filters.category),
        items=items, shown=n_shown, total=view.total_matching, batch=batch,
        notice=(f'<p class="notice error" role="alert">Not applied to {shown(", ".join(refused))}: '
                f'{esc(REFUSED_HELP)}</p>' if refused else "")
        + (f'<p class="notice error" role="alert">Not undone: {shown(", ".join(late))}: {esc(LATE_HELP)}</p>'
           if late else ""),
        pending=render_pending(pending, me, csrf, queue), undo_s=esc(f"{undo_s:g}"),
    )
    return page("Review queue", body, csrf)


def render_login(csrf: str, error: str = "", user: str = "") -> str:
    body = template("login.html").substitute(csrf=esc(csrf), user=esc(user),
                                             error=f'<p class="error" role="alert">{esc(error)}</p>' if error else "")
    return page("Log in", body, "")


def page(title: str, body: str, csrf: str) -> str:
    return template("base.html").substitute(title=esc(title), csrf=esc(csrf), body=body)
