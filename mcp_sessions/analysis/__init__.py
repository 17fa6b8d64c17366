"""Pure analysis over model records: no SQL, no MCP, no formatting; inputs never mutated."""
