"""The MCP tools, one module per group; each module's `register(mcp)` adds its tools.

A tool body reads query → analyse → render: no SQL (store/), no formatting (render/).
Expected failures become ToolErrors whose message tells the model what to do next.
"""
