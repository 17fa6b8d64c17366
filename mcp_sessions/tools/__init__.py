"""The MCP tools, resources and prompts: module-level functions, grouped by topic.

Each is declared with `@tool`, `@resource` or `@prompt` (tools/common.py) into a registry
that server.py walks. A body parses its arguments, asks one answer (answers/) and renders it
(render/): no SQL, no formatting, no logic of its own. Expected failures become ToolErrors
whose message tells the model what to do next.
"""
