"""How the bot talks HTTP to the Bot API: PTB's request interface over aiohttp.

PTB's own HTTPXRequest works, but under load httpx/httpcore cost more than everything else the
bot does: each request looks over every pooled connection (a poll() and getpeername() apiece) and
takes several anyio locks and cancel scopes. aiohttp does the same job for about a third of the
CPU, which roughly doubled the benchmark's capacity (bench/load.py).

It behaves as HTTPXRequest does where it matters here:
- certificates are checked against certifi's bundle (what httpx uses);
- an HTTPS_PROXY / ALL_PROXY in the environment is used, unless NO_PROXY names the host;
  it is read once at start, not on every request;
- PTB's four timeouts are kept: connect, read, write and pool (waiting for a free connection);
- a timeout becomes TimedOut and any other failure NetworkError, which is what the rest of the
  bot retries on. Neither message carries the URL, which has the token in it.
"""

from __future__ import annotations

import ssl
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot import health


class AiohttpRequest(BaseRequest):
    """One pool of keep-alive connections to the Bot API; PTB wants one for getUpdates and one
    for everything else."""

    def __init__(
        self,
        connections: int = 16,
        read_timeout: float = 5.0,
        write_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        pool_timeout: float = 5.0,
        media_write_timeout: float = 20.0,
    ) -> None:
        self._connections = connections
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=context)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                trust_env=False,  # proxies are read once (proxy_for), not on every request
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for this URL's host, worked out once per host."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._proxies:
            found = urllib.request.getproxies()
            proxy = found.get(parts.scheme) or found.get("all")
            if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
                proxy = None
            self._proxies[key] = proxy or None
        return self._proxies[key]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else {}
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        body: aiohttp.FormData | dict[str, str]
        if files:
            body = aiohttp.FormData(fields)
            for name, (filename, content, mimetype) in files.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        else:
            body = fields
        # aiohttp has no write timeout of its own: it is folded into the limit for the whole call.
        timeout = aiohttp.ClientTimeout(
            total=_sum(connect, pool, write, read),
            connect=_sum(connect, pool),  # waiting for a pooled connection, then connecting
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                timeout=timeout,
                proxy=self.proxy_for(url),
                allow_redirects=False,  # as httpx: the Bot API never redirects
            ) as response:
                health.telegram_answered(response.status)
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The exception's text can name the URL, and the URL holds the token: kind only.
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc


def _given(value: ODVInput[float], default: float) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _sum(*parts: float | None) -> float | None:
    """A limit made of several: none at all if any part is unlimited."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
