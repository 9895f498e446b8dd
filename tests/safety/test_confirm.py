"""The terminal confirmer: what it shows, what each answer means, and --yes."""

from __future__ import annotations

import io

from app.safety.confirm import Request, TerminalConfirmer

REQUEST = Request(tool="move", args={"src": "~/a.txt", "dst": "~/b.txt"}, risk="write",
                  reason="write actions ask unless you allow them", description='run move(src="~/a.txt")',
                  can_always=True)


def ask(answer: str, request: Request = REQUEST) -> tuple[str, str]:
    out = io.StringIO()
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return answer

    result = TerminalConfirmer(stream=out, read=read).confirm(request)
    return result, out.getvalue() + "".join(prompts)


def test_shows_the_call_its_tier_and_why():
    _, shown = ask("n")
    assert 'move {"src": "~/a.txt", "dst": "~/b.txt"}' in shown
    assert "risk: write; asking because write actions ask" in shown and "[a]lways here" in shown


def test_answers():
    assert ask("y")[0] == "once" and ask("YES")[0] == "once"
    assert ask("a")[0] == "always"
    assert ask("")[0] == "deny" and ask("maybe")[0] == "deny"


def test_always_is_not_offered_when_it_may_not_be_granted():
    tainted = Request(**{**REQUEST.__dict__, "can_always": False})
    result, shown = ask("a", tainted)
    assert result == "deny" and "[a]lways" not in shown


def test_end_of_input_denies():
    def closed(prompt: str) -> str:
        raise EOFError

    assert TerminalConfirmer(stream=io.StringIO(), read=closed).confirm(REQUEST) == "deny"


def test_yes_answers_once_without_reading():
    out = io.StringIO()
    assert TerminalConfirmer(assume_yes=True, stream=out, read=lambda p: 1 / 0).confirm(REQUEST) == "once"
    assert "allowed (--yes)" in out.getvalue()
