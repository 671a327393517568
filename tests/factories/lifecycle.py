"""Histories for records put straight into the database, read from a domain's declared
transitions (app/services/lifecycle.py)."""

from __future__ import annotations

from typing import Any

from app.services.lifecycle import Lifecycle


def paths_from(lifecycle: Lifecycle[Any, Any, Any], start: Any) -> dict[Any, list[tuple[Any, Any]]]:
    """The shortest declared path from `start` to every state it leads to: the history
    a record put straight into the database would have had."""
    paths: dict[Any, list[tuple[Any, Any]]] = {start: []}
    reached = [start]
    for state in reached:  # breadth first: `reached` grows while it is walked
        for step in lifecycle.transitions:
            if state in step.sources and step.to is not None and step.to not in paths:
                paths[step.to] = [*paths[state], (step.action, step.to)]
                reached.append(step.to)
    return paths
