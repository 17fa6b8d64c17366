"""Print the browser snippet, to save it beside the page's own scripts."""

import sys

from mcp_sessions.browser import snippet

sys.stdout.write(snippet())
