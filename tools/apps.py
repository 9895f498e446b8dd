"""App tools: list the installed applications, launch one, open a web or mail link.

Linux reads the XDG desktop entries (Desktop Entry Specification); macOS lists the ``.app``
bundles in the Applications folders; Windows lists the Start Menu shortcuts. Programs start
detached: in their own session, with stdin, stdout and stderr on the null device, never through a
shell.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from tools.judged import Refused, Subject, Target, looks_like_path, target
from tools.registry import MaxLen, Range, ToolContext, tool

OPENER_ENV = "PAGEMIND_OPENER"
"""A command (split like a shell would, then run without one) that replaces the platform's opener."""
URL_SCHEMES = ("http", "https", "mailto")
_FIELD = re.compile(r"%(.)")
_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


@dataclass(frozen=True)
class App:
    """An installed application, as its platform describes it."""

    name: str
    id: str
    """The desktop file id without ``.desktop`` (``org.gnome.Calculator``), or the file's stem."""
    path: Path
    """The desktop entry, the ``.app`` bundle or the ``.lnk`` shortcut."""
    exec: str = ""
    """The desktop entry's Exec line, with field codes (Linux only)."""
    terminal: bool = False
    icon: str = ""
    workdir: str = ""


def _data_dirs() -> list[Path]:
    """Where desktop entries live, most important first ($XDG_DATA_HOME, then $XDG_DATA_DIRS)."""
    home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    system = (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    return [Path(folder) / "applications" for folder in [home, *system] if os.path.isabs(folder)]


def _true(value: str | None) -> bool:
    return (value or "").strip() == "true"


class _EntryParser(configparser.ConfigParser):
    """A desktop entry's keys are case-sensitive (``Exec``, not ``exec``)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _read_entry(path: Path, desktop_id: str) -> App | None:
    """The application a desktop file describes, or None when it hides itself or is no application."""
    parser = _EntryParser(interpolation=None, strict=False, delimiters=("=",))
    try:
        parser.read(path, encoding="utf-8")
    except configparser.MissingSectionHeaderError:
        return None
    except configparser.ParsingError:
        pass  # unreadable lines are skipped; the ones read still count
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    if not parser.has_section("Desktop Entry"):
        return None
    entry = parser["Desktop Entry"]
    name, command = entry.get("Name", "").strip(), entry.get("Exec", "").strip()
    if entry.get("Type") != "Application" or not name or not command:
        return None
    if _true(entry.get("Hidden")) or _true(entry.get("NoDisplay")):
        return None
    try_exec = entry.get("TryExec", "").strip()
    if try_exec and not shutil.which(try_exec):
        return None
    return App(
        name, desktop_id.removesuffix(".desktop"), path, command,
        _true(entry.get("Terminal")), entry.get("Icon", ""), entry.get("Path", ""),
    )


def _desktop_apps() -> list[App]:
    """Every visible desktop entry; an entry hides those with the same id in later folders."""
    seen: set[str] = set()
    apps = []
    for folder in _data_dirs():
        for path in sorted(folder.rglob("*.desktop")):
            desktop_id = path.relative_to(folder).as_posix().replace("/", "-")
            if desktop_id not in seen:
                seen.add(desktop_id)
                apps.append(_read_entry(path, desktop_id))
    return [app for app in apps if app]


def _bundle_apps() -> list[App]:
    folders = [Path("/Applications"), Path.home() / "Applications"]
    return [App(path.stem, path.stem, path) for folder in folders for path in sorted(folder.glob("*.app"))]


def _start_menu_apps() -> list[App]:
    folders = [Path(os.environ[v]) / "Microsoft/Windows/Start Menu/Programs" for v in ("APPDATA", "PROGRAMDATA")
               if v in os.environ]
    return [App(path.stem, path.stem, path) for folder in folders for path in sorted(folder.rglob("*.lnk"))]


def installed_apps() -> list[App]:
    """The applications of this platform, sorted by name."""
    if sys.platform == "win32":
        apps = _start_menu_apps()
    elif sys.platform == "darwin":
        apps = _bundle_apps()
    else:
        apps = _desktop_apps()
    return sorted(apps, key=lambda app: app.name.casefold())


@tool(risk="read", untrusted_output=True)
def list_apps(name: Annotated[str, MaxLen(100)] | None = None, limit: Annotated[int, Range(1, 200)] = 30) -> str:
    """List the installed applications by name, as launch_app accepts them.

    Args:
        name: only apps whose name contains this text (any case).
        limit: most apps to list.
    """
    apps = installed_apps()
    if name:
        apps = [app for app in apps if name.casefold() in app.name.casefold()]
    if not apps:
        return f"No installed app has {name!r} in its name." if name else "No installed apps were found."
    shown = apps[:limit]
    head = f"{len(apps)} app{'s' if len(apps) > 1 else ''}" + (f" with {name!r} in the name" if name else "")
    head += ":" if len(shown) == len(apps) else f"; the first {len(shown)}:"
    return "\n".join([head, *(app.name + (" (in a terminal)" if app.terminal else "") for app in shown)])


def find_app(name: str) -> App:
    """The app called ``name`` (or with that id), else the only one whose name starts with it."""
    wanted = name.strip().casefold()
    if not wanted:
        raise ValueError("name is empty")
    apps = installed_apps()
    found = [app for app in apps if wanted in (app.name.casefold(), app.id.casefold())]
    found = found or [app for app in apps if app.name.casefold().startswith(wanted)]
    if not found:
        raise LookupError(f"no installed app is called {name!r}; list_apps shows the installed ones")
    if len(found) > 1:
        names = ", ".join(f"{app.name} [{app.id}]" for app in found[:10]) + (", ..." if len(found) > 10 else "")
        raise LookupError(f"{name!r} could be {len(found)} apps: {names}; give a full name or an id in brackets")
    return found[0]


def _unescape(value: str) -> str:
    """A desktop entry string with its escapes (\\s \\n \\t \\r \\\\) decoded; quoting is left to shlex."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), value)


def exec_command(app: App, args: list[str]) -> list[str]:
    """The argv of a desktop entry's Exec line with its field codes filled from ``args``.

    %f/%u take one argument, %F/%U all of them, %i the icon, %c the name, %k the entry's path, %%
    a percent sign; deprecated codes vanish. Without %f %F %u %U, ``args`` are appended.
    """
    try:
        template = shlex.split(_unescape(app.exec))
    except ValueError as exc:
        raise ValueError(f"the Exec line of {app.name} cannot be read ({exc})") from None
    codes = {code for token in template for code in _FIELD.findall(token)}
    if len(args) > 1 and codes & set("fu") and not codes & set("FU"):
        raise ValueError(f"{app.name} opens one file or URL at a time, not {len(args)}")
    fills = {"%": "%", "f": args[0] if args else "", "u": args[0] if args else "", "c": app.name, "k": str(app.path)}
    command: list[str] = []
    for token in template:
        if token in ("%F", "%U"):
            command += args
        elif token == "%i":
            command += ["--icon", app.icon] if app.icon else []
        else:
            expanded = _FIELD.sub(lambda m: fills.get(m[1], ""), token)
            if expanded or not _FIELD.fullmatch(token):
                command.append(expanded)
    if not command:
        raise ValueError(f"the Exec line of {app.name} names no program")
    return command if codes & set("fuFU") else command + args


def _in_terminal(command: list[str]) -> list[str]:
    for terminal in (os.environ.get("TERMINAL"), "x-terminal-emulator", "xterm"):
        if terminal and shutil.which(terminal):
            return [terminal, "-e", *command]
    raise FileNotFoundError("the app runs in a terminal, and no terminal emulator was found (set $TERMINAL)")


def spawn(command: list[str], cwd: str | None = None) -> int:
    """Start ``command`` detached, without a shell; its pid. A thread reaps it when it exits."""
    try:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"program {command[0]!r} not found") from None
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def _argument_target(text: str) -> Target | None:
    """A program argument that names a file, resolved like a path argument (None for other text)."""
    if not looks_like_path(text):
        return None
    local = urllib.parse.unquote(urllib.parse.urlsplit(text).path) if text.startswith("file:") else text
    return target("args", local or "/")


def _judge_launch(args: dict) -> Subject:
    """The desktop entry (or bundle) a launch starts, the command it runs, and why it must ask."""
    app, extra = find_app(args["name"]), list(args.get("args") or [])
    entry = Path(os.path.realpath(app.path))
    shown = f"{app.name} ({entry})"
    if sys.platform not in ("win32", "darwin"):
        shown += f", running: {shlex.join(exec_command(app, extra))}"
    asks = None
    if extra:
        kind = "options" if any(a.startswith("-") for a in extra) else "arguments"
        asks = f"it starts {app.name} with {kind} ({shlex.join(extra)[:200]}), which always asks"
    found = tuple(t for t in map(_argument_target, extra) if t is not None)
    return Subject(str(entry), shown, data=app, asks=asks, targets=found)


@tool(risk="launch", subject=_judge_launch)
def launch_app(name: Annotated[str, MaxLen(200)], args: list[str] | None = None,
               context: ToolContext = ToolContext()) -> str:
    """Start an installed application, optionally with files or URLs to open.

    Args:
        name: the app's name as list_apps shows it (any case), or the start of it when only one app matches.
        args: files or URLs for the app to open (or extra command-line arguments).
    """
    subject = context.judgement.subject if context.judgement else None
    app, args = (subject.data if subject is not None else find_app(name)), args or []
    if sys.platform == "win32":
        os.startfile(app.path, arguments=subprocess.list2cmdline(args))
        return f"Launched {app.name}."
    if sys.platform == "darwin":
        spawn(["open", "-a", str(app.path), *(["--args", *args] if args else [])])
        return f"Launched {app.name}."
    command = exec_command(app, args)
    if app.terminal:
        command = _in_terminal(command)
    pid = spawn(command, cwd=app.workdir if os.path.isdir(app.workdir) else str(Path.home()))
    return f"Launched {app.name} (pid {pid}): {shlex.join(command)}"


def check_url(url: str) -> str:
    """``url`` when it is an http, https or mailto link that hides nothing; Refused (or ValueError
    for a malformed one) saying why not otherwise."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("the URL contains spaces or control characters; percent-encode them (%20)")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        what = f"{scheme}: links" if scheme else "addresses without a scheme"
        raise Refused(f"refused to open {what}; only http, https and mailto links can be opened")
    if "\\" in url:
        raise Refused("refused to open a link with a backslash: browsers read it as another host")
    if scheme == "mailto":
        fields = {key.lower() for key, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)}
        if fields & {"attach", "attachment", "attachments"}:
            raise Refused("refused to open a mailto link that attaches files: it could send the user's files away")
        return url
    if "@" in parts.netloc:
        raise Refused(f"refused to open a link with a user name before its host: it hides the real host "
                      f"({parts.hostname})")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    return url


def url_host(url: str) -> str:
    """The host a link really goes to, in ASCII (an internationalised name as its punycode)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "mailto":
        return "a mail to " + ", ".join(address.strip() for address in urllib.parse.unquote(parts.path).split(","))
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = host
    return ascii_host + (f" (shown as {host})" if ascii_host != host else "")


def _judge_url(args: dict) -> Subject:
    url = check_url(args["url"].strip())
    return Subject(url, f"{url}, which goes to {url_host(url)}")


@tool(risk="launch", subject=_judge_url)
def open_url(url: Annotated[str, MaxLen(2000)]) -> str:
    """Open a web page in the default browser, or start an e-mail in the default mail program.

    Args:
        url: an http or https address, or a mailto link, e.g. "https://example.org" or "mailto:ann@example.org".
    """
    url = check_url(url.strip())
    override = os.environ.get(OPENER_ENV, "").strip()
    if override:
        opener = shlex.split(override)
    elif sys.platform == "win32":
        os.startfile(url)
        return f"Opened {url}."
    else:
        opener = ["open" if sys.platform == "darwin" else "xdg-open"]
    spawn([*opener, url])
    return f"Opened {url} with {Path(opener[0]).name}."
