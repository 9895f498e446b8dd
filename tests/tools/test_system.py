"""The system overview on this machine: every section present, compact, and the tool's metadata."""

from __future__ import annotations

from pathlib import Path

from tools.system import system_status

SECTIONS = ["CPU", "Memory", "Disk", "Battery", "Network", "Uptime", "Top CPU", "Top memory"]


def test_system_status_has_every_section() -> None:
    lines = system_status().splitlines()
    assert [line.split(":")[0].split(" (")[0] for line in lines] == SECTIONS
    cpu, memory, disk, battery, network, uptime, top_cpu, top_memory = lines
    assert "% busy" in cpu and "cores" in cpu
    assert " used (" in memory and "available; swap: " in memory
    assert disk.startswith(f"Disk ({Path.home()}): ") and "free" in disk
    assert battery == "Battery: none" or battery.split()[1].endswith("%,")
    assert "sent " in network and "received " in network and "up: " in network
    assert "since " in uptime
    assert top_cpu.count("%") == 5 and top_memory.count(" MB") == 5


def test_system_status_through_the_registry() -> None:
    result = system_status.call({"request_heartbeat": False})
    assert result.startswith("CPU: ") and len(result) < 1500
    assert system_status.risk == "read" and system_status.untrusted_output
    assert list(system_status.parameters["properties"]) == ["request_heartbeat"]
