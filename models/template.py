"""Render a conversation with the chat template stored in a GGUF (ChatML when there is none).

Templates come from model files, so they run in Jinja's immutable sandbox, with the helpers that
Hugging Face templates expect (``raise_exception``, ``strftime_now``, loop controls).
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any, Sequence

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from models.errors import ModelError
from models.interface import ChatMessage, ModelInfo

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class TemplateError(ModelError):
    """The model's chat template failed to render this conversation."""


def _raise(message: str) -> None:
    raise TemplateError(f"the model's chat template refused the conversation: {message}")


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(source)


def render(
    messages: Sequence[ChatMessage],
    template: str = "",
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    **extra: Any,
) -> str:
    """The prompt text for ``messages``; ``template`` empty means ChatML."""
    try:
        compiled = _compile(template or CHATML)
        return compiled.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            **extra,
        )
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"the model's chat template is broken: {exc}") from None


def render_for(info: ModelInfo, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
    """The prompt text for ``messages`` under the chat template and special tokens of ``info``."""
    return render(messages, info.chat_template, add_generation_prompt=add_generation_prompt,
                  bos_token=info.bos_token, eos_token=info.eos_token)
