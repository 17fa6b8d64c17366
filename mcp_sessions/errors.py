"""The one exception hierarchy of mcp-sessions.

    McpSessionsError                 anything this package raises on purpose
    ├── InputError                   a file or payload we cannot ingest
    │   ├── UnknownFormatError       content matches no format we read
    │   ├── UnsupportedFormatError   a format we recognise but do not read yet
    │   └── MalformedInputError      the right format, but broken (names the field)
    ├── StoreError                   the database cannot be used as it is
    │   ├── SchemaVersionError       the database was written by a newer mcp-sessions
    │   ├── SchemaTooOldError        a reader found an older schema: run `mcp-sessions migrate`
    │   ├── DatabaseMissingError     a reader found no database (or an empty one) at the path
    │   ├── DatabaseBusyError        another process holds the write lock (retry when it ends)
    │   ├── StorageFullError         the disk, or the configured storage quota, is full
    │   ├── ErasureIncompleteError   prune/forget could not rewrite the file (a reader held it)
    │   └── SourceError              a remote trace source (Jaeger, Tempo) did not answer as documented
    └── QueryError                   a question the caller can fix
        ├── NotFoundError            no such session / trace / span (suggests what exists)
        └── InvalidArgumentError     an argument out of range or unparsable

Every message is one line that says what is wrong and what to do next; none carries
SQL or a stack trace, so CLI and MCP edges can show them as they are.
"""


class McpSessionsError(Exception):
    """Base class: an expected failure with a message fit for the user."""


class InputError(McpSessionsError):
    """A file or payload that cannot be ingested."""


class UnknownFormatError(InputError):
    """The content matches none of the formats we read."""


class UnsupportedFormatError(InputError):
    """A format we recognise but cannot read yet."""


class MalformedInputError(InputError):
    """Content in a known format that is broken; the message names the field."""


class StoreError(McpSessionsError):
    """The database cannot be opened or used as it is."""


class SchemaVersionError(StoreError):
    """The database was written by a newer mcp-sessions than this one."""


class SchemaTooOldError(StoreError):
    """A reader found an older schema; `mcp-sessions migrate` upgrades it."""


class DatabaseMissingError(StoreError):
    """A reader found no database, or an empty one, at the path it was given."""


class DatabaseBusyError(StoreError):
    """Another process held the database's write lock for longer than we wait."""


class StorageFullError(StoreError):
    """Nothing more can be stored: the disk is full, or the storage quota is reached."""


class ErasureIncompleteError(StoreError):
    """An erasure could not finish rewriting the file; the message says whether anything was removed."""


class SourceError(StoreError):
    """A remote trace source (Jaeger, Tempo) is down, refused us, or answered in a shape we do not read."""


class QueryError(McpSessionsError):
    """A request the caller can correct."""


class NotFoundError(QueryError):
    """No such session, trace or span."""


class InvalidArgumentError(QueryError):
    """An argument that is out of range or cannot be parsed."""
