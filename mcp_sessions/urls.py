"""The one URL module: split any string into URL parts, never raising.

Recorded URLs are untrusted text: a host redacted to `[REDACTED]`, an unclosed IPv6
bracket, a port of `99999` or `abc`, a `data:` URL of megabytes, a bare path, a host with
no scheme. `urllib.parse.urlsplit` raises ValueError on several of these (and on reading
`.port`), so every caller had to guard it; here every string has an answer:

    http://user@[::1]:8080/a/b?x=1#top   scheme http · userinfo user · host [::1] · port 8080
                                         path /a/b · query x=1 · fragment top
    http://[REDACTED]/api/orders/7       host [REDACTED] · path /api/orders/7
    shop.internal:8443/api/orders        no scheme: host shop.internal · port 8443 (a host:port guess)
    /api/orders?page=2                   path /api/orders · query page=2 (relative: no host)
    http://h:99999/x                     host h · port None · raw_port "99999"
    data:image/png;base64,AAAA           opaque: scheme data · path image/png;base64,AAAA

Splitting follows RFC 3986 appendix B (scheme, `//authority`, path, `?query`, `#fragment`),
after dropping leading spaces and controls and the tabs and newlines browsers ignore. A
scheme must be a letter then letters, digits, `+ - .`; `host:8443/...` reads as a host and
port, as a person would. Hosts are lowercased (bracketed ones kept as written); nothing is percent-decoded unless asked
(`unquote`, `query_items`). Everything else in the project goes through this module
(ruff bans `urllib.parse` elsewhere).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
# Schemes whose `scheme:digits` is not a host and port (`tel:123`, `data:...`).
_SCHEMES = frozenset({*DEFAULT_PORTS, "file", "data", "blob", "about", "mailto", "tel", "javascript", "urn"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_PORT_THEN_PATH = re.compile(r"\d+(?=[/?#]|$)")
_INVISIBLE = str.maketrans("", "", "\t\r\n")
_LEADING = "".join(map(chr, range(33)))  # C0 controls and space, as browsers and urllib strip them


@dataclass(frozen=True, slots=True)
class Url:
    """The parts of one URL as written (host lowercased); empty strings for absent parts."""

    scheme: str = ""
    userinfo: str = ""
    host: str = ""
    port: int | None = None  # a valid port (0-65535) when one is given
    raw_port: str = ""  # the text after the host's colon, valid or not
    path: str = ""
    query: str = ""
    fragment: str = ""
    has_authority: bool = False
    netloc: str = ""  # the authority as written: userinfo@host:port

    @property
    def hostname(self) -> str:
        """The host without IPv6 brackets."""
        return self.host[1:-1] if self.host.startswith("[") and self.host.endswith("]") else self.host

    @property
    def effective_port(self) -> int | None:
        """The port given, else the scheme's default port."""
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme)

    @property
    def host_port(self) -> str:
        """`host:port`, the port left out when it is the scheme's default; '' without a host."""
        if not self.host:
            return ""
        if self.port is None or self.port == DEFAULT_PORTS.get(self.scheme):
            return self.host
        return f"{self.host}:{self.port}"

    @property
    def origin(self) -> str:
        """`scheme://host:port`, or '' when the URL has no scheme or no host."""
        return f"{self.scheme}://{self.netloc.rpartition('@')[2]}" if self.scheme and self.host else ""

    @property
    def opaque(self) -> bool:
        """A URL with a scheme but no hierarchy (`data:`, `mailto:`, `blob:`, `about:blank`)."""
        return bool(self.scheme) and not self.has_authority and not self.path.startswith("/")

    @property
    def path_and_query(self) -> str:
        """`/path?query`, the path `/` when empty."""
        return (self.path or "/") + (f"?{self.query}" if self.query else "")


def split(text: str) -> Url:
    """The parts of `text`, whatever it holds."""
    text = str(text).lstrip(_LEADING).translate(_INVISIBLE)
    text, _, fragment = text.partition("#")
    text, _, query = text.partition("?")
    scheme = ""
    match = _SCHEME.match(text)
    if match and text[match.end() : match.end() + 1] == ":":
        rest = text[match.end() + 1 :]
        if match.group().lower() not in _SCHEMES and _PORT_THEN_PATH.match(rest):
            text = "//" + text  # host:port/path, no scheme
        else:
            scheme, text = match.group().lower(), rest
    if not text.startswith("//"):
        return Url(scheme=scheme, path=text, query=query, fragment=fragment)
    authority_end = text.find("/", 2)
    authority = text[2:] if authority_end < 0 else text[2:authority_end]
    path = "" if authority_end < 0 else text[authority_end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo = ""
    host, raw_port = _host_and_port(hostport)
    port = int(raw_port) if raw_port.isascii() and raw_port.isdigit() and int(raw_port) <= 65535 else None
    host = host if host.startswith("[") else host.lower()  # a bracket holds IPv6 or a redaction marker
    return Url(scheme, userinfo, host, port, raw_port, path, query, fragment, True, authority)


def _host_and_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:  # an unclosed IPv6 bracket: all of it is the host
            return hostport, ""
        host, rest = hostport[: close + 1], hostport[close + 1 :]
        return host, rest[1:] if rest.startswith(":") else ""
    host, colon, port = hostport.rpartition(":")
    return (host, port) if colon else (hostport, "")


def path_of(text: str) -> str:
    """The path of a URL (no query, no fragment); '' when it has none."""
    return split(text).path


def host_port(text: str) -> str:
    """`host:port` of a URL (default port left out); '' when it names no host."""
    return split(text).host_port


def unquote(text: str) -> str:
    """Percent-decoding; invalid UTF-8 becomes U+FFFD."""
    return urllib.parse.unquote(str(text), errors="replace")


def quote(text: str, safe: str = "") -> str:
    """Percent-encoding of every character but letters, digits, `_.-~` and `safe`."""
    return urllib.parse.quote(str(text), safe=safe)


def query_items(query: str) -> list[tuple[str, str]]:
    """`a=1&b=&c` → [("a", "1"), ("b", ""), ("c", "")]: decoded, blanks kept, in order."""
    items = []
    for part in str(query).split("&"):
        if part:
            key, _, value = part.partition("=")
            items.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return items


def site(text: str) -> str:
    """The site a URL belongs to: its host's last two labels (`ssl.google-analytics.com` →
    `google-analytics.com`); an IP address, `localhost` or a one-label host is its own site."""
    host = split(text).hostname
    labels = host.split(".")
    if len(labels) <= 2 or host.replace(".", "").isdigit() or ":" in host:
        return host
    return ".".join(labels[-2:])
