"""A fault-injecting SMTP server (aiosmtpd on 127.0.0.1) for delivery tests.

    with FaultServer(temp_fail_first=1, permanent_fail={"gone@example.com"}) as server:
        send_the_digest(server.settings())  # the code under test
        assert server.recipients() == Counter({"reader@example.com": 1})

Faults are keyword options, all off by default; `reset_faults()` swaps them while the server
runs. The server records what it accepted in `received`, so a test can assert exactly what a
real server got under each failure mode. At RCPT the faults are checked in the order
temp_fail_for_seconds, temp_fail_first, permanent_fail, greylist; at DATA, cut_during_data
comes first, then at its end reject_data_for, temp_fail_every, drop_after_data. Every 421
reply closes the connection, as RFC 5321 (3.8) requires.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Any, NoReturn

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
# The name in the banner and EHLO reply. Without it aiosmtpd calls socket.getfqdn() for every
# connection, which can take seconds where DNS is slow or missing.
SERVER_NAME = "faults.test"

ACCEPTED = "250 2.0.0 Queued"
TEMP_FAIL = "451 4.3.0 Temporary failure"
CLOSING = "421 4.3.2 Service not available, closing channel"
NO_SUCH_USER = "550 5.1.1 No such user"
REJECTED = "554 5.6.0 Message rejected"
GREYLISTED = "450 4.2.0 Greylisted, try again"
TOO_BUSY = "421 4.3.2 Too busy"
SENDER_REJECTED = "550 5.7.1 Sender rejected"
AUTH_NEEDED = "530 5.7.0 Authentication required"


@dataclass(frozen=True)
class Received:
    """One message the server got in full: its envelope and raw bytes (CRLF line ends)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message_id: str | None


@dataclass(frozen=True, kw_only=True)
class Faults:
    """The failure modes; see the module docstring and FaultServer for their meaning."""

    temp_fail_every: int = 0
    temp_fail_first: int = 0
    temp_fail_for_seconds: float = 0.0
    permanent_fail: Set[str] = frozenset()
    reject_data_for: Set[str] = frozenset()
    greylist: bool = False
    drop_after_data: int | Set[str] | None = None
    cut_during_data: int | Set[str] | None = None
    slow_reply_seconds: float = 0.0
    banner_421: bool = False
    auth_required: tuple[str, str] | None = None
    mail_from_fail: bool = False


class _Envelope(Envelope):
    """An envelope that knows which transaction (since the last fault reset) it belongs to."""

    def __init__(self) -> None:
        super().__init__()
        self.number = 0


class _Handler:
    """The aiosmtpd handler: hooks that apply the faults and record what was accepted."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.transactions = 0
        self.connections = 0
        self.reset(faults)

    def reset(self, faults: Faults) -> None:
        """Start counting fault windows and numbered transactions afresh."""
        with self._lock:
            self.faults = faults
            self._started = time.monotonic()
            self._base = self.transactions
            self._greylisted: set[tuple[str, str]] = set()

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def forget_connections(self) -> None:
        with self._lock:
            self.connections = 0

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator for PLAIN and LOGIN: only the configured pair succeeds."""
        wanted = self.faults.auth_required
        ok = (
            wanted is not None
            and isinstance(data, LoginPassword)
            and (data.login, data.password) == (wanted[0].encode(), wanted[1].encode())
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: _Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            self.transactions += 1
            envelope.number = self.transactions - self._base
        if self.faults.auth_required and not session.authenticated:
            return AUTH_NEEDED
        if self.faults.mail_from_fail:
            return SENDER_REJECTED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: _Envelope, address: str, options: list[str]
    ) -> str:
        faults = self.faults
        if time.monotonic() - self._started < faults.temp_fail_for_seconds:
            return CLOSING
        if envelope.number <= faults.temp_fail_first:
            return TEMP_FAIL
        if address in faults.permanent_fail:
            return NO_SUCH_USER
        if faults.greylist:
            pair = (envelope.mail_from or "", address)
            with self._lock:
                first = pair not in self._greylisted
                self._greylisted.add(pair)
            if first:
                return GREYLISTED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: _FaultSMTP, session: Session, envelope: _Envelope) -> str:
        faults = self.faults
        reply = self._verdict(faults, envelope)
        if reply == ACCEPTED:
            self._record(envelope)
        # The verdict stands before the wait, so a client that gives up leaves it unchanged.
        if faults.slow_reply_seconds:
            await asyncio.sleep(faults.slow_reply_seconds)
        if reply == ACCEPTED and _chosen(faults.drop_after_data, envelope):
            server.hang_up()
        return reply

    @staticmethod
    def _verdict(faults: Faults, envelope: _Envelope) -> str:
        if not faults.reject_data_for.isdisjoint(envelope.rcpt_tos):
            return REJECTED
        if faults.temp_fail_every and envelope.number % faults.temp_fail_every == 0:
            return TEMP_FAIL
        return ACCEPTED

    def _record(self, envelope: Envelope) -> None:
        data = envelope.original_content or b""
        header = BytesHeaderParser(policy=policy.default).parsebytes(data)["Message-ID"]
        message = Received(
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            data,
            str(header).strip() if header is not None else None,
        )
        with self._lock:
            self.received.append(message)


def _chosen(fault: int | Set[str] | None, envelope: _Envelope) -> bool:
    """Whether a fault given as a transaction number or a set of recipients hits `envelope`."""
    if isinstance(fault, int):
        return envelope.number == fault
    return fault is not None and not fault.isdisjoint(envelope.rcpt_tos)


class _FaultSMTP(SMTP):
    """aiosmtpd's SMTP protocol with the faults no handler hook can produce: a 421 banner,
    closing after any 421 reply, hanging up instead of replying, and cutting the connection
    in the middle of the data."""

    event_handler: _Handler
    envelope: _Envelope | None

    def _create_envelope(self) -> _Envelope:
        return _Envelope()

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        cut = self.event_handler.faults.cut_during_data
        if envelope is None or not envelope.rcpt_tos or not _chosen(cut, envelope):
            await super().smtp_DATA(arg)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.readuntil(b"\r\n")  # the first line of the message, no more
        assert self.transport is not None
        # As a proxy aborting the connection does: a reset, whatever is still unread.
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
        raise asyncio.CancelledError

    async def _handle_client(self) -> None:
        self.event_handler.connected()
        if self.event_handler.faults.banner_421:
            await self.push(TOO_BUSY)
            return
        await super()._handle_client()

    async def push(self, status: str | bytes) -> None:
        await super().push(status)
        if status[:3] in ("421", b"421"):
            self.hang_up()

    def hang_up(self) -> NoReturn:
        """Close the connection and end this session without another word; aiosmtpd treats
        the CancelledError as a connection lost mid-command."""
        assert self.transport is not None
        self.transport.close()
        raise asyncio.CancelledError


class _Controller(Controller):
    """A Controller on an already bound socket (no window for another process to take the
    port), making a `_FaultSMTP` for each connection with the auth setting current then."""

    handler: _Handler

    def __init__(self, handler: _Handler, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(
            handler, hostname=host, port=port, server_hostname=SERVER_NAME, enable_SMTPUTF8=True
        )
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def factory(self) -> SMTP:
        # With auth_require_tls=True and no TLS, aiosmtpd neither advertises nor accepts AUTH.
        # The 530 for MAIL without AUTH comes from handle_MAIL, not aiosmtpd's auth_required,
        # which warns (UserWarning) whenever it is used without TLS.
        return _FaultSMTP(
            self.handler,
            auth_require_tls=self.handler.faults.auth_required is None,
            authenticator=self.handler.authenticate,
            **self.SMTP_kwargs,
        )


class FaultServer:
    """A real SMTP server on 127.0.0.1 with an OS-chosen port that fails on request.

    Fault options (keyword only, all off by default):

    - temp_fail_every=N: every Nth transaction gets 451 at the end of DATA (not recorded).
    - temp_fail_first=N: the first N transactions get 451 at RCPT.
    - temp_fail_for_seconds=T: for T seconds, every RCPT gets 421 and the connection closes.
    - permanent_fail={addresses}: those recipients get 550 5.1.1 at RCPT.
    - reject_data_for={addresses}: a transaction to any of them gets 554 after DATA (not
      recorded).
    - greylist=True: the first RCPT for each (sender, recipient) pair gets 450.
    - drop_after_data=N or {addresses}: the Nth transaction, or one to any of those recipients,
      is recorded and then the connection closes with no reply to the data.
    - cut_during_data=N or {addresses}: the Nth transaction, or one to any of those recipients,
      is reset after the first line of its data (not recorded), as a proxy aborting it would.
    - slow_reply_seconds=S: wait S seconds before answering the end of each DATA (the message
      is recorded, or not, before the wait: a client that times out leaves it recorded).
    - banner_421=True: greet with 421 and close.
    - auth_required=(user, password): offer AUTH PLAIN/LOGIN, refuse MAIL with 530 until the
      client logs in; wrong credentials get 535.
    - mail_from_fail=True: MAIL FROM gets 550 5.7.1.

    Transactions are numbered by MAIL FROM from 1, counting afresh (like the
    temp_fail_for_seconds clock and the greylist) at start and at each `reset_faults()`.
    """

    def __init__(self, **faults: Any) -> None:
        self._handler = _Handler(Faults(**faults))
        self.host = HOST
        self.port = 0
        self._controller: _Controller | None = None

    def __enter__(self) -> FaultServer:
        sock = socket.socket()
        sock.bind((HOST, 0))
        self.port = int(sock.getsockname()[1])
        self._controller = _Controller(self._handler, sock)
        self._controller.start()
        # start() opens one connection itself to check the server answers; by now that
        # connection has been counted (before its banner was sent), so forget it.
        self._handler.forget_connections()
        self._handler.reset(self._handler.faults)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        """Every message the server got in full, in order (including dropped-reply ones)."""
        return self._handler.received

    @property
    def transactions(self) -> int:
        """MAIL FROM commands seen (after aiosmtpd's own syntax checks) since start."""
        return self._handler.transactions

    @property
    def connections(self) -> int:
        """Client connections accepted since start."""
        return self._handler.connections

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._handler.faults

    def recipients(self) -> Counter[str]:
        """How many recorded messages each recipient got."""
        return Counter(r for message in self.received for r in message.rcpt_tos)

    def settings(self, timeout: float = 10.0) -> dict[str, Any]:
        """The project's [smtp] settings for this server (with the credentials if AUTH is on)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "timeout": timeout,
        }
        if self.faults.auth_required:
            values["username"], values["password"] = self.faults.auth_required
        return values

    def reset_faults(self, **faults: Any) -> None:
        """Replace all faults (none given: no faults) while the server runs."""
        self._handler.reset(Faults(**faults))
