"""mcp-sessions: recorded user sessions and backend traces, indexed locally, served to AI agents over MCP."""

__version__ = "0.1.0"
