"""Prints an access token of a new, verified account (through the generated
client), for schemathesis to reach the Bearer operations with."""

import sys
import uuid

from flow import BASE_URL, token_from_mail  # also puts the generated client on sys.path

from authd_client import Client
from authd_client.api.auth import login, register, verify_email
from authd_client.models import LoginData, LoginRequest, RegisterRequest, TokenRequest

PASSWORD = "Schemathesis-Account-9"


def main() -> None:
    client = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    address = f"st-{uuid.uuid4().hex}@example.com"
    body = RegisterRequest(email=address, password=PASSWORD, first_name="Fuzz", last_name="Er")
    assert register.sync_detailed(client=client, body=body).status_code == 201
    token = token_from_mail(address, "verify-email")
    assert verify_email.sync_detailed(client=client, body=TokenRequest(token=token)).status_code == 200
    resp = login.sync_detailed(client=client, body=LoginRequest(email=address, password=PASSWORD))
    data = resp.parsed.data  # type: ignore[union-attr]
    assert isinstance(data, LoginData), resp.content
    sys.stdout.write(data.token)


if __name__ == "__main__":
    main()
