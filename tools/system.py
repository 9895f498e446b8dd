"""The system tool: one compact overview of the machine (CPU, memory, disk, battery, network, uptime).

Its top processes carry names chosen by other programs, so the result is untrusted text.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import psutil

from tools.fs.listing import human_size
from tools.processes import SAMPLE_S, Sample, duration, sample_processes, top_processes
from tools.registry import tool

TOP = 5


def _cpu(percent: float) -> str:
    cores, threads = psutil.cpu_count(logical=False), psutil.cpu_count()
    text = f"CPU: {percent:.0f}% busy over {SAMPLE_S} s; {cores or '?'} cores, {threads or '?'} threads"
    try:
        load = psutil.getloadavg()
    except (AttributeError, OSError):
        return text
    return text + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)"


def _memory() -> str:
    ram, swap = psutil.virtual_memory(), psutil.swap_memory()
    text = f"Memory: {human_size(ram.total - ram.available)} of {human_size(ram.total)} used ({ram.percent:.0f}%), "
    text += f"{human_size(ram.available)} available; swap: "
    return text + (f"{human_size(swap.used)} of {human_size(swap.total)} used ({swap.percent:.0f}%)" if swap.total else "none")


def _disk() -> str:
    home = Path.home()
    usage = psutil.disk_usage(str(home))
    used = f"{human_size(usage.used)} of {human_size(usage.total)} used ({usage.percent:.0f}%)"
    return f"Disk ({home}): {used}, {human_size(usage.free)} free"


def _battery() -> str:
    sensor = getattr(psutil, "sensors_battery", None)
    battery = sensor() if sensor else None
    if battery is None:
        return "Battery: none"
    if battery.power_plugged:
        state = "plugged in" + (", full" if battery.percent >= 100 else ", charging")
    elif battery.secsleft not in (psutil.POWER_TIME_UNKNOWN, psutil.POWER_TIME_UNLIMITED):
        state = f"on battery, {duration(battery.secsleft)} left"
    else:
        state = "on battery"
    return f"Battery: {battery.percent:.0f}%, {state}"


def _network() -> str:
    counters = psutil.net_io_counters()
    up = [
        name for name, stats in psutil.net_if_stats().items()
        if stats.isup and "loopback" not in stats.flags.split(",") and "loopback" not in name.lower()
    ]
    traffic = f"sent {human_size(counters.bytes_sent)}, received {human_size(counters.bytes_recv)}" if counters else "no counters"
    return f"Network: {traffic} since boot; up: {', '.join(sorted(up)) or 'no interface'}"


def _uptime() -> str:
    boot = psutil.boot_time()
    return f"Uptime: {duration(time.time() - boot)} (since {datetime.datetime.fromtimestamp(boot):%Y-%m-%d %H:%M})"


def _top(samples: list[Sample]) -> list[str]:
    by_cpu = ", ".join(f"{s.name} ({s.pid}) {s.cpu:.0f}%" for s in top_processes(samples, "cpu", TOP))
    by_memory = ", ".join(f"{s.name} ({s.pid}) {s.rss / 2**20:.0f} MB" for s in top_processes(samples, "memory", TOP))
    return [f"Top CPU: {by_cpu}", f"Top memory: {by_memory}"]


@tool(risk="read", untrusted_output=True)
def system_status() -> str:
    """Show the state of the computer: CPU, memory, disk, battery, network, uptime and the busiest processes."""
    psutil.cpu_percent(None)
    samples = sample_processes()
    busy = psutil.cpu_percent(None)
    return "\n".join([_cpu(busy), _memory(), _disk(), _battery(), _network(), _uptime(), *_top(samples)])
