"""Recording formats: detection from content and one pure, streaming parser per format."""

from mcp_sessions.formats.detect import Parsed, read_path

__all__ = ["Parsed", "read_path"]
