"""send_message: the model's reply to the user, the tool that ends a turn."""

from __future__ import annotations

from tools.messages import send_message
from tools.registry import HEARTBEAT, REGISTRY


def test_send_message_returns_the_message_itself() -> None:
    assert send_message("The report is in ~/Documents.") == "The report is in ~/Documents."
    assert send_message.call({"message": "Done.\nTwo files moved."}) == "Done.\nTwo files moved."


def test_send_message_takes_no_heartbeat() -> None:
    assert send_message.heartbeat is False
    assert list(send_message.parameters["properties"]) == ["message"]
    assert HEARTBEAT not in send_message.parameters["required"]
    assert "request_heartbeat" in send_message.call({"message": "hi", HEARTBEAT: True})


def test_send_message_is_a_registered_read_tool_with_a_bounded_message() -> None:
    assert REGISTRY.get("send_message") is send_message
    assert send_message.risk == "read"
    assert send_message.parameters["properties"]["message"]["maxLength"] == 4000
    assert send_message.call({"message": "x" * 4001}).startswith("Error: invalid arguments")
