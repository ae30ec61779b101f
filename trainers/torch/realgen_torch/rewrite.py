"""The prompt optimizer's task: the system prompt, the chat layout, and what counts as a usable rewrite.

Output format: the assistant turn is the rewritten prompt itself, one paragraph of plain text, ended by the
end-of-turn token (`<|im_end|>` in the ChatML layout of Qwen2/Qwen3). Nothing else: no preamble, no quotes, no
markup. The paper's rewrites (spec §1) are 150–200 words of photographic description; `maxWords` bounds them.

A rewrite is **malformed** (and gets `malformedReward` for every reward key instead of being rendered) when
  - `truncated`: no end-of-turn token within `maxNewTokens` (a cut-off sentence is never rendered),
  - `empty`: nothing but whitespace,
  - `too-short` / `too-long`: fewer than `minWords` or more than `maxWords` words,
  - `markup`: it contains chat or reasoning markup (`<|…|>`, `<think>`, `</…>`), i.e. the format was not followed,
  - `unprintable`: control characters other than newline/tab, or the replacement character (undecodable bytes).
Malformed rewrites never reach the generator or the reward service, so garbage can neither crash a step nor be
scored as if it were a prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_SYSTEM_PROMPT = (
    "You rewrite short image prompts into detailed prompts for a photorealistic text-to-image model. "
    "Keep every subject, attribute and relation of the user's prompt. Add concrete photographic detail: "
    "setting, natural lighting, camera and lens, depth of field, real textures and small imperfections, grain. "
    "Describe one real photograph. Answer with the rewritten prompt only, as one paragraph of plain text."
)

MALFORMED_REASONS = ("truncated", "empty", "too-short", "too-long", "markup", "unprintable")
_MARKUP = re.compile(r"<\|[^|]*\|>|</?think>|</[a-zA-Z_]+>|<\|")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Rewrite:
    text: str  # the cleaned rewrite (whitespace collapsed); what the generator renders when valid
    words: int
    tokens: int  # completion tokens sampled, the end-of-turn token included
    malformed: str | None  # one of MALFORMED_REASONS, or None


def chatml(system: str, user: str) -> str:
    """The Qwen2/Qwen3 ChatML layout with the generation prompt (what `apply_chat_template(...,
    add_generation_prompt=True)` gives for these models), used when the tokenizer has no chat template."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def check_rewrite(raw: str, *, ended: bool, tokens: int, min_words: int, max_words: int) -> Rewrite:
    text = " ".join(raw.split())
    n = len(_WORD.findall(text))
    reason = None
    if not ended:
        reason = "truncated"
    elif not text:
        reason = "empty"
    elif _MARKUP.search(raw):
        reason = "markup"
    elif _UNPRINTABLE.search(raw):
        reason = "unprintable"
    elif n < min_words:
        reason = "too-short"
    elif n > max_words:
        reason = "too-long"
    return Rewrite(text=text, words=n, tokens=tokens, malformed=reason)
