"""Replying to the user: the one tool that ends the model's turn."""

from __future__ import annotations

from typing import Annotated

from tools.registry import MaxLen, tool


@tool(risk="read", heartbeat=False)
def send_message(message: Annotated[str, MaxLen(4000)]) -> str:
    """Send a message to the user; your turn ends until the user answers.

    Args:
        message: what to tell the user, in plain words.
    """
    return message
