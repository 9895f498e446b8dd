"""The quick-command router: unambiguous one-line commands become one tool call without the model.

``route("open firefox")`` is ``launch_app(name="firefox")``, in microseconds and with no model
loaded. Anything the table below does not match exactly, or whose argument is not plainly an app
name, a pid, a path, a link or a file name, returns None and goes to the model: the router never
guesses. Compound requests (and, then, ``;``), negations and conditions always go to the model.
Routed calls still pass the permission gate like the model's.

Paths must be absolute: ``~``, ``/`` or a Windows drive. A relative one (``./notes.md``) goes to
the model: the tools would resolve it from the home folder, not from where the user stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 200
"""Longer input is no quick command."""
MAX_PID = 2**32 - 1
"""Pids of every platform fit in 32 bits; a larger number is a typo, not a process."""
MAX_APP_WORDS = 3


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS = _words(
    "a an the this that these those it its me my mine you your i we our us they them their he him his she her "
    "some any all every each another other what which who where when why how here there now again up down over "
    "in on at to of for with from by into about as after before something anything everything nothing "
    "file files folder folders directory document documents downloads desktop pictures music videos home "
    "process processes pid app apps application program window tab page website link one"
)
"""Words that make an argument a description of something, not the name of an app or process."""
_LINKING_WORDS = _words("in with using on from to into by as for at via inside under")
"""Words that would make a path with spaces carry a second clause ("~/a.txt with gedit")."""
_FILE_EXTENSIONS = _words(
    "pdf doc docx odt rtf txt md csv tsv xls xlsx ods ppt pptx odp epub html htm json xml yaml yml toml ini cfg "
    "log png jpg jpeg gif bmp svg webp tif tiff heic mp3 wav flac ogg m4a mp4 mkv avi mov webm zip tar gz tgz "
    "bz2 xz 7z rar iso py js ts c h cpp java rs go sh bat ps1 exe msi dmg deb rpm appimage"
)
"""Extensions that make a word a file, which launch_app cannot start."""
_DOMAIN_ENDINGS = _words(
    "com org net edu gov io dev ai co uk de fr nl eu info me tv us ca au jp ru ch se es it pl be at br in"
)
"""Endings that make a word a web address without its scheme, which open_url refuses."""

_DECLINE = re.compile(
    r"[;&|,\n\r]|\b(?:and|then|or|also|plus|if|unless|until|when|not|never|no|dont|cannot)\b|n't\b", re.IGNORECASE
)
_POLITE_START = re.compile(r"^(?:please|pls|plz|kindly)\s+", re.IGNORECASE)
_ASK_START = re.compile(r"^(?:can|could|would|will) you(?: please| pls)?\s+", re.IGNORECASE)
_QUESTION_START = re.compile(r"^(?:what|what's|whats|where|where's|which|how|who)\b", re.IGNORECASE)
_POLITE_END = re.compile(r"(?:,?\s+please|(?<![/\\.])[.!]+)$", re.IGNORECASE)
_APP_WORD = re.compile(r"[a-z0-9][a-z0-9_.+-]*", re.IGNORECASE)
_PROCESS_NAME = re.compile(r"[a-z][a-z0-9_.+-]*", re.IGNORECASE)
_PATH = re.compile(r"(?:~(?:[/\\]|$)|/|[a-z]:[/\\])", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s/?#@]+(?:[/?#]\S*)?|mailto:[^\s@]+@[^\s@]+", re.IGNORECASE)
_EXTENSION = re.compile(r"\.([a-z0-9]{1,10})$", re.IGNORECASE)
_WHATS = r"what(?:'s|s| is)"


@dataclass(frozen=True)
class Route:
    """One tool call for a quick command."""

    tool: str
    """A tool name from tools/ (e.g. "launch_app")."""
    args: dict[str, Any]
    """Arguments valid under that tool's JSON schema (without request_heartbeat)."""
    summary: str
    """A short human description, e.g. "launch firefox"."""


Builder = Callable[[dict[str, str]], "Route | None"]


def _is_path(text: str) -> bool:
    """Whether ``text`` names a path the tools can resolve without guessing a folder."""
    words = text.split()
    return (bool(_PATH.match(text)) and text.isprintable() and len(text) <= 1000
            and not any(word.casefold() in _LINKING_WORDS for word in words[1:]))


def _is_file_name(word: str) -> bool:
    match = _EXTENSION.search(word)
    return bool(match) and match.group(1).casefold() in _FILE_EXTENSIONS


def _app_word(word: str) -> bool:
    """Whether ``word`` can be part of an app's name: no function word, file or bare web address."""
    lowered = word.casefold()
    return (bool(_APP_WORD.fullmatch(word)) and lowered not in _FUNCTION_WORDS and not _is_file_name(word)
            and not lowered.startswith("www.") and ("." not in lowered or lowered.rsplit(".", 1)[1] not in _DOMAIN_ENDINGS))


def _app_name(text: str) -> str | None:
    """``text`` when it reads as the name of an app (1-3 plain words), else None."""
    words = text.split()
    fits = 0 < len(words) <= MAX_APP_WORDS and all(map(_app_word, words)) and not text.isdigit()
    return " ".join(words) if fits else None


def _open(found: dict[str, str]) -> Route | None:
    """A link with its scheme, a path, or (for "open" without "file"/"folder") an app."""
    arg = found["arg"]
    if _URL.fullmatch(arg) and len(arg) <= 2000:
        return Route("open_url", {"url": arg}, f"open {arg}")
    if _is_path(arg):
        return Route("open_path", {"path": arg}, f"open {arg}")
    return _launch(found) if found["verb"].casefold() == "open" and not found["kind"] else None


def _launch(found: dict[str, str]) -> Route | None:
    name = _app_name(found["arg"])
    return Route("launch_app", {"name": name}, f"launch {name}") if name else None


def _kill(found: dict[str, str]) -> Route | None:
    """A pid in range, or one process name ("end"/"stop" only with "process": "stop music" is no kill)."""
    arg, force = found["arg"], bool(found["force"] or found["flag"])
    kind, verb = (found["kind"] or "").strip().casefold(), found["verb"].casefold()
    how = " (force)" if force else ""
    extra = {"force": True} if force else {}
    if arg.isascii() and arg.isdigit():  # "¹" and "٣" are digits to Python, not pids
        pid = int(arg)
        return Route("kill_process", {"pid": pid, **extra}, f"end process {pid}{how}") if 0 < pid <= MAX_PID else None
    if kind == "pid" or (not kind and verb in ("end", "stop")):
        return None
    if not _PROCESS_NAME.fullmatch(arg) or arg.casefold() in _FUNCTION_WORDS or len(arg) > 100:
        return None
    return Route("kill_process", {"name": arg, **extra}, f"end processes named {arg}{how}")


def _find(found: dict[str, str]) -> Route | None:
    """A file name with an extension, or a glob, under the home folder or a given path."""
    pattern, root = found["pattern"], found["root"] or "~"
    wild = any(c in pattern for c in "*?[")
    named = wild or _EXTENSION.search(pattern) is not None
    if not named or not any(c.isalnum() for c in pattern) or "/" in pattern or "\\" in pattern:
        return None
    if len(pattern) > 200 or not _is_path(root):
        return None
    return Route("find_files", {"root": root, "pattern": pattern}, f"find {pattern} under {root}")


def _list_dir(found: dict[str, str]) -> Route | None:
    path = found["path"]
    return Route("list_dir", {"path": path}, f"list {path}") if _is_path(path) else None


def _fixed(tool: str, summary: str, **args: Any) -> Builder:
    return lambda found: Route(tool, dict(args), summary)


_COMMANDS: tuple[tuple[str, str, Builder], ...] = (
    ("memory hogs",
     (rf"{_WHATS} (?:using|eating|hogging|taking up) (?:(?:all )?(?:my|the) )?(?:memory|ram)"
      r"|top memory|(?:show|list|top) (?:the )?processes by (?:memory|ram)"),
     _fixed("list_processes", "list processes by memory", sort="memory")),
    ("cpu hogs",
     (rf"{_WHATS} (?:using|eating|hogging|taking up) (?:(?:all )?(?:my|the) )?cpu|{_WHATS} running"
      r"|top(?: processes| cpu)?|(?:show|list)(?: running| all)?(?: the)? processes(?: by cpu)?"),
     _fixed("list_processes", "list processes by CPU", sort="cpu")),
    ("disk",
     (r"disk (?:usage|space)|(?:show|check) disk (?:usage|space)|free (?:disk )?space"
      r"|how much (?:free |disk )?space (?:is )?(?:left|free|available)(?: on (?:my|the) disk)?"),
     _fixed("disk_usage", "show disk usage")),
    ("system",
     (r"(?:show |check )?(?:the )?system status|battery(?: status| level)?"
      r"|how(?:'s| is) my (?:system|computer|machine)(?: doing)?"),
     _fixed("system_status", "show system status")),
    ("screenshot",
     r"(?:(?:take|grab|capture) (?:a )?)?screen ?shot|capture the screen",
     _fixed("screenshot", "take a screenshot")),
    ("apps",
     (r"(?:list|show) (?:all |installed |my )?(?:apps|applications)|installed (?:apps|applications)"
      r"|(?:what|which) (?:apps|applications) (?:are installed|do i have)"),
     _fixed("list_apps", "list installed apps")),
    ("open", r"(?P<verb>open|go to|visit)(?P<kind> file| folder| directory)? (?P<arg>.+)", _open),
    ("launch", r"(?P<verb>launch|start|run) (?P<arg>.+)", _launch),
    ("kill",
     (r"(?P<force>force )?(?P<verb>kill|terminate|end|stop|quit|close)(?P<flag> -9| -kill)?"
      r"(?P<kind> process| pid)? (?P<arg>\S+)"),
     _kill),
    ("documents",
     (r"(?:search|find|look)(?: in| through| for)? (?:my |the )?(?:documents|docs|notes)"
      r"(?: for| about| mentioning)? (?P<query>.+)"),
     lambda found: Route("search_documents", {"query": found["query"]}, f"search documents for {found['query']}")),
    ("find",
     (r"(?:find|locate|search for|search|look for|where is|where's)(?: the)?(?: files?(?: named| called)?)?"
      r" (?P<pattern>\S+)(?: (?:in|under|inside) (?P<root>.+))?"),
     _find),
    ("list folder",
     rf"(?:list files in|show (?:me )?(?:the )?(?:files|contents) (?:in|of)|{_WHATS} in|list|ls|dir) (?P<path>.+)",
     _list_dir),
)
"""Each command family: its name, the pattern a whole command must match, and the call it makes."""
_TABLE = tuple((name, re.compile(pattern, re.IGNORECASE), build) for name, pattern, build in _COMMANDS)


def normalise(text: str) -> str:
    """``text`` without politeness, surrounding space and closing punctuation ("" for a compound)."""
    text = text.replace("\u2019", "'").strip()
    if "\n" in text or "\r" in text:
        return ""
    text = " ".join(text.split())
    while True:
        before = text
        text = _POLITE_START.sub("", text)
        asked = _ASK_START.match(text)
        text = _ASK_START.sub("", text)
        if asked or _QUESTION_START.match(text):
            text = text.removesuffix("?").rstrip()
        text = _POLITE_END.sub("", text).strip()
        if text == before:
            return text


def route(text: str) -> Route | None:
    """The tool call for an unambiguous quick command, or None to hand the text to the model."""
    if len(text) > MAX_CHARS:
        return None
    command = normalise(text)
    if not command or _DECLINE.search(command):
        return None
    for _name, pattern, build in _TABLE:
        found = pattern.fullmatch(command)
        if found:
            return build(found.groupdict())
    return None
