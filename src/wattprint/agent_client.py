"""The agent client under its first name; it lives in :mod:`wattprint.serve.client`.

``from wattprint.agent_client import AgentClient`` keeps working for code
written against wattprint 0.1; new code imports from
:mod:`wattprint.serve.client`.
"""

from __future__ import annotations

from wattprint.serve.client import AgentClient, AgentDevice, ProcessUsage

__all__ = ["AgentClient", "AgentDevice", "ProcessUsage"]
