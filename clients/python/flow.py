"""The account flow through the client openapi-python-client generated,
against a live server: AUTHD_URL, and AUTHD_OUTBOX_DIR where the server
writes its mails. The server must run with the default per-IP limit (5 a
minute) for the 429 step."""

import email
import email.policy
import os
import re
import sys
import time
import uuid
from http import HTTPStatus
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "generated"))

from authd_client import AuthenticatedClient, Client  # noqa: E402
from authd_client.api.admin import admin_create_user, admin_get_user  # noqa: E402
from authd_client.api.auth import (  # noqa: E402
    login,
    logout,
    refresh_token,
    register,
    password_reset_confirm,
    verify_email,
    verify_token,
)
from authd_client.models import (  # noqa: E402
    CreateUserRequest,
    ErrorEnvelope,
    LoginData,
    LoginRequest,
    LogoutRequest,
    MfaChallenge,
    RefreshRequest,
    RegisterRequest,
    ResetConfirmRequest,
    SuccessEnvelopeLoginResult,
    SuccessEnvelopeNoData,
    SuccessEnvelopeRegisteredUser,
    SuccessEnvelopeTokenData,
    SuccessEnvelopeVerifiedToken,
    TokenRequest,
)

BASE_URL = os.environ.get("AUTHD_URL", "http://127.0.0.1:8080")
OUTBOX = Path(os.environ["AUTHD_OUTBOX_DIR"])


def step(name: str) -> None:
    print(f"python flow: {name}", flush=True)


def expect_error(resp, status: int) -> ErrorEnvelope:
    """An error answer: typed as the error envelope, with the right status."""
    assert resp.status_code == status, (resp.status_code, resp.content)
    err = resp.parsed
    assert isinstance(err, ErrorEnvelope), err
    assert err.success is False and err.status_code == status, err
    assert resp.headers.get("x-request-id")
    return err


def token_from_mail(address: str, path: str) -> str:
    """The token of the `path?token=` link in the newest mail to `address`."""
    deadline = time.monotonic() + 15
    link = re.compile(rf"/{re.escape(path)}\?token=([A-Za-z0-9_\-.~%]+)")
    while time.monotonic() < deadline:
        mails = sorted(OUTBOX.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
        for file in mails:
            msg = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            if address not in str(msg["To"]):
                continue
            for part in msg.walk():
                if part.get_content_type() == "text/plain":
                    found = link.search(part.get_content())
                    if found:
                        return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no mail with a {path} link for {address} in {OUTBOX}")


def main() -> None:
    client = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    address = f"py-{uuid.uuid4().hex}@example.com"
    password = "Generated-Python-Flow-7"
    registration = RegisterRequest(
        email=address, password=password, first_name="Katherine", last_name="Johnson"
    )

    step("register")
    resp = register.sync_detailed(client=client, body=registration)
    assert resp.status_code == HTTPStatus.CREATED, resp.content
    assert isinstance(resp.parsed, SuccessEnvelopeRegisteredUser)
    assert resp.parsed.success is True
    uuid.UUID(str(resp.parsed.data.user_id))

    step("register the same address again: 409")
    err = expect_error(register.sync_detailed(client=client, body=registration), 409)
    assert err.error == "Conflict"

    step("read the verification mail, verify the email")
    token = token_from_mail(address, "verify-email")
    resp = verify_email.sync_detailed(client=client, body=TokenRequest(token=token))
    assert resp.status_code == HTTPStatus.OK, resp.content
    assert isinstance(resp.parsed, SuccessEnvelopeNoData)

    step("login")
    resp = login.sync_detailed(client=client, body=LoginRequest(email=address, password=password))
    assert resp.status_code == HTTPStatus.OK, resp.content
    assert isinstance(resp.parsed, SuccessEnvelopeLoginResult), resp.parsed
    result = resp.parsed.data
    assert not isinstance(result, MfaChallenge), "unexpected MFA challenge"
    assert isinstance(result, LoginData)
    assert result.token_type == "Bearer"
    assert result.user.email == address
    assert result.user.company_name is None
    assert result.user.created_at.tzinfo is not None  # parsed as a date-time
    access, refresh = result.token, result.refresh_token

    step("verify-token")
    authed = AuthenticatedClient(base_url=BASE_URL, token=access, raise_on_unexpected_status=True)
    resp = verify_token.sync_detailed(client=authed)
    assert isinstance(resp.parsed, SuccessEnvelopeVerifiedToken), resp.content
    assert resp.parsed.data.user.email == address

    step("refresh")
    resp = refresh_token.sync_detailed(client=client, body=RefreshRequest(refresh_token=refresh))
    assert isinstance(resp.parsed, SuccessEnvelopeTokenData), resp.content
    assert resp.parsed.data.refresh_token != refresh
    access, refresh = resp.parsed.data.token, resp.parsed.data.refresh_token

    step("logout")
    authed = AuthenticatedClient(base_url=BASE_URL, token=access, raise_on_unexpected_status=True)
    resp = logout.sync_detailed(client=authed, body=LogoutRequest(refresh_token=refresh))
    assert isinstance(resp.parsed, SuccessEnvelopeNoData), resp.content
    assert resp.parsed.message == "Logged out"

    step("verify-token after logout: 401 with the Bearer challenge")
    resp = verify_token.sync_detailed(client=authed)
    expect_error(resp, 401)
    assert resp.headers.get("www-authenticate") == "Bearer"

    step("admin: invite a user (no password), who sets one from the mail and logs in")
    admin = AuthenticatedClient(
        base_url=BASE_URL, token=os.environ["AUTHD_ADMIN_KEY"], raise_on_unexpected_status=True
    )
    invited = f"py-invited-{uuid.uuid4().hex}@example.com"
    resp = admin_create_user.sync_detailed(
        client=admin,
        body=CreateUserRequest(
            email=invited, first_name="Dorothy", last_name="Vaughan", roles=["staff"]
        ),
    )
    assert resp.status_code == HTTPStatus.CREATED, resp.content
    created = resp.parsed.data.user
    assert created.email == invited and created.roles == ["staff"], created
    assert created.is_email_verified is False and created.disabled is False, created
    expect_error(admin_create_user.sync_detailed(client=authed, body=CreateUserRequest(
        email=invited, first_name="Dorothy", last_name="Vaughan")), 401)
    token = token_from_mail(invited, "reset-password")
    chosen = "Invited-Python-Flow-8"
    resp = password_reset_confirm.sync_detailed(
        client=client, body=ResetConfirmRequest(token=token, new_password=chosen)
    )
    assert resp.status_code == HTTPStatus.OK, resp.content
    resp = login.sync_detailed(client=client, body=LoginRequest(email=invited, password=chosen))
    assert resp.status_code == HTTPStatus.OK, resp.content
    assert resp.parsed.data.user.is_email_verified is True, resp.parsed
    resp = admin_get_user.sync_detailed(client=admin, id=str(created.id))
    assert resp.status_code == HTTPStatus.OK, resp.content
    assert resp.parsed.data.user.sessions == 1, resp.parsed

    step("login too often from one address: 429 with retry_after")
    wrong = LoginRequest(email=f"nobody-{uuid.uuid4().hex}@example.com", password="Wrong-Password-1")
    for _ in range(6):
        resp = login.sync_detailed(client=client, body=wrong)
        if resp.status_code == 429:
            break
        expect_error(resp, 401)
    err = expect_error(resp, 429)
    assert err.data and err.data.retry_after > 0, err
    assert resp.headers.get("retry-after") == str(err.data.retry_after)

    print("python flow: passed")


if __name__ == "__main__":
    main()
