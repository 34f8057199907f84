"""The fault-injecting SMTP server, driven by plain smtplib: each fault answers as documented."""

import smtplib
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from smtp_faults import FaultServer

SENDER = "digest@example.com"
READER = "reader@example.com"
OTHER = "other@example.com"


def message(n: int = 1, to: str = READER) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {to}\r\nSubject: Digest {n}\r\n"
        f"Message-ID: <digest-{n}@example.com>\r\n\r\nHello {n}.\r\n"
    ).encode()


@contextmanager
def client(server: FaultServer, timeout: float = 5.0) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
        smtp.ehlo()
        yield smtp


def transaction(smtp: smtplib.SMTP, n: int = 1, to: str = READER) -> tuple[int, bytes]:
    """MAIL, RCPT and DATA step by step; the reply to the first refused step, or to DATA."""
    code, reply = smtp.mail(SENDER)
    if code == 250:
        code, reply = smtp.rcpt(to)
    if code == 250:
        return smtp.data(message(n, to))
    smtp.rset()
    return code, reply


def test_accepts_and_records_the_envelope_data_and_message_id() -> None:
    with FaultServer() as server, client(server) as smtp:
        assert transaction(smtp) == (250, b"2.0.0 Queued")
        assert smtp.has_extn("smtputf8")
        assert not smtp.has_extn("auth")
    [got] = server.received
    assert (got.mail_from, got.rcpt_tos, got.message_id) == (
        SENDER,
        [READER],
        "<digest-1@example.com>",
    )
    assert got.data == message()
    assert (server.transactions, server.connections) == (1, 1)


def test_recipients_counts_each_accepted_message_once_per_recipient() -> None:
    with FaultServer() as server, client(server) as smtp:
        smtp.sendmail(SENDER, [READER, OTHER], message(1))
        smtp.sendmail(SENDER, [READER], message(2))
    assert server.recipients() == Counter({READER: 2, OTHER: 1})
    assert server.received[1].rcpt_tos == [READER]


def test_settings_point_the_project_at_the_server() -> None:
    with FaultServer() as server:
        assert server.host == "127.0.0.1"
        assert server.settings(timeout=2) == {
            "host": "127.0.0.1",
            "port": server.port,
            "security": "none",
            "timeout": 2,
        }


def test_internationalised_addresses_go_through_with_smtputf8() -> None:
    to = "jörg@bücher.example"
    with FaultServer() as server, client(server) as smtp:
        smtp.sendmail(SENDER, [to], message(1, "joerg@example.com"), mail_options=["SMTPUTF8"])
    assert server.recipients() == Counter({to: 1})


def test_temp_fail_every_refuses_every_nth_transaction_after_the_data() -> None:
    with FaultServer(temp_fail_every=2) as server, client(server) as smtp:
        replies = [transaction(smtp, n)[0] for n in (1, 2, 3, 4)]
    assert replies == [250, 451, 250, 451]
    assert [r.message_id for r in server.received] == [
        "<digest-1@example.com>",
        "<digest-3@example.com>",
    ]
    assert server.transactions == 4


def test_temp_fail_first_refuses_the_first_transactions_at_rcpt() -> None:
    with FaultServer(temp_fail_first=2) as server, client(server) as smtp:
        assert smtp.mail(SENDER)[0] == 250
        assert smtp.rcpt(READER) == (451, b"4.3.0 Temporary failure")
        smtp.rset()
        assert transaction(smtp)[0] == 451
        assert transaction(smtp)[0] == 250
    assert len(server.received) == 1


def test_temp_fail_for_seconds_closes_the_channel_at_rcpt_until_the_time_is_up() -> None:
    with FaultServer(temp_fail_for_seconds=0.2) as server:
        with client(server) as smtp:
            smtp.mail(SENDER)
            assert smtp.rcpt(READER) == (421, b"4.3.2 Service not available, closing channel")
            with pytest.raises(smtplib.SMTPServerDisconnected):
                smtp.noop()
        time.sleep(0.2)
        with client(server) as smtp:
            assert transaction(smtp)[0] == 250
    assert (server.connections, len(server.received)) == (2, 1)


def test_permanent_fail_refuses_those_recipients_only() -> None:
    with FaultServer(permanent_fail={OTHER}) as server, client(server) as smtp:
        refused = smtp.sendmail(SENDER, [READER, OTHER], message())
    assert refused == {OTHER: (550, b"5.1.1 No such user")}
    assert server.recipients() == Counter({READER: 1})


def test_reject_data_for_accepts_the_recipient_then_refuses_the_data() -> None:
    with FaultServer(reject_data_for={OTHER}) as server, client(server) as smtp:
        smtp.mail(SENDER)
        assert smtp.rcpt(OTHER)[0] == 250
        assert smtp.data(message()) == (554, b"5.6.0 Message rejected")
        assert transaction(smtp)[0] == 250
    assert server.recipients() == Counter({READER: 1})


def test_greylist_refuses_the_first_attempt_per_sender_and_recipient() -> None:
    with FaultServer(greylist=True) as server, client(server) as smtp:
        assert transaction(smtp, 1) == (450, b"4.2.0 Greylisted, try again")
        assert transaction(smtp, 2)[0] == 250
        assert transaction(smtp, 3, OTHER)[0] == 450
    assert [r.message_id for r in server.received] == ["<digest-2@example.com>"]


def test_drop_after_data_records_the_message_but_never_answers() -> None:
    with FaultServer(drop_after_data=2) as server, client(server) as smtp:
        assert transaction(smtp, 1)[0] == 250
        with pytest.raises(smtplib.SMTPServerDisconnected):
            transaction(smtp, 2)
    assert [r.message_id for r in server.received] == [
        "<digest-1@example.com>",
        "<digest-2@example.com>",
    ]


def test_drop_after_data_for_recipients_drops_every_attempt_to_them() -> None:
    with FaultServer(drop_after_data={OTHER}) as server:
        for _ in range(2):
            with client(server) as smtp, pytest.raises(smtplib.SMTPServerDisconnected):
                smtp.sendmail(SENDER, [OTHER], message())
        with client(server) as smtp:
            smtp.sendmail(SENDER, [READER], message())
    assert server.recipients() == Counter({OTHER: 2, READER: 1})


def test_cut_during_data_resets_the_connection_and_records_nothing() -> None:
    with FaultServer(cut_during_data={OTHER}) as server:
        with client(server) as smtp, pytest.raises(smtplib.SMTPServerDisconnected) as cut:
            smtp.sendmail(SENDER, [OTHER], message() + b"More text.\r\n" * 5000)
        assert isinstance(cut.value.__context__, ConnectionResetError)
        with client(server) as smtp:
            smtp.sendmail(SENDER, [READER], message())
    assert server.recipients() == Counter({READER: 1})


def test_slow_reply_delays_the_answer_to_the_data() -> None:
    with FaultServer(slow_reply_seconds=0.2) as server, client(server) as smtp:
        smtp.mail(SENDER)
        smtp.rcpt(READER)
        started = time.monotonic()
        assert smtp.data(message())[0] == 250
        assert time.monotonic() - started >= 0.2


def test_slow_reply_beyond_the_client_timeout_leaves_the_message_received() -> None:
    with FaultServer(slow_reply_seconds=0.3) as server, client(server, timeout=0.1) as smtp:
        smtp.mail(SENDER)
        smtp.rcpt(READER)
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            smtp.data(message())
    assert len(server.received) == 1


def test_banner_421_refuses_the_connection() -> None:
    with FaultServer(banner_421=True) as server:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP(server.host, server.port, timeout=5)
        assert (refused.value.smtp_code, refused.value.smtp_error) == (421, b"4.3.2 Too busy")
        assert (server.connections, server.transactions) == (1, 0)


def test_auth_required_refuses_mail_before_login() -> None:
    with FaultServer(auth_required=("user", "secret")) as server, client(server) as smtp:
        assert smtp.has_extn("auth")
        assert smtp.mail(SENDER) == (530, b"5.7.0 Authentication required")
    assert server.received == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_accepts_only_the_right_credentials(mechanism: str) -> None:
    with FaultServer(auth_required=("user", "secret")) as server:
        with client(server) as smtp, pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            smtp.user, smtp.password = "user", "wrong"
            smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        assert wrong.value.smtp_code == 535
        with client(server) as smtp:
            smtp.user, smtp.password = "user", "secret"
            assert smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))[0] == 235
            assert transaction(smtp)[0] == 250
        assert server.settings()["username"] == "user"
    assert len(server.received) == 1


def test_mail_from_fail_refuses_the_sender_and_still_counts_the_transaction() -> None:
    with FaultServer(mail_from_fail=True) as server, client(server) as smtp:
        assert transaction(smtp) == (550, b"5.7.1 Sender rejected")
    assert (server.transactions, server.received) == (1, [])


def test_reset_faults_replaces_the_faults_and_numbers_transactions_afresh() -> None:
    with FaultServer(permanent_fail={READER}) as server, client(server) as smtp:
        assert transaction(smtp, 1)[0] == 550
        server.reset_faults(temp_fail_first=1)
        assert transaction(smtp, 2)[0] == 451
        assert transaction(smtp, 3)[0] == 250
        server.reset_faults()
        assert transaction(smtp, 4)[0] == 250
    assert server.transactions == 4
    assert len(server.received) == 2


def test_an_unknown_fault_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        FaultServer(explode=True)
