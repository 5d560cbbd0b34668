"""API tokens: stored hashed, shown once, revoked, expired; the tokens page, the api_token
command, 401 without a valid token and 429 past the rate."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from api.models import ApiToken
from api.services import token_authenticate, token_create, token_digest
from api.tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_as_its_hash_and_a_recognisable_prefix(owner):
    made = token_create(user=owner, name=" discord bot ", expires_days=30)
    row = ApiToken.objects.get()
    assert made.secret.startswith("l4m_") and len(made.secret) > 40
    assert made.secret not in str(list(ApiToken.objects.values_list()))
    assert (row.name, row.digest, row.prefix) == ("discord bot", token_digest(made.secret), made.secret[:10])
    assert timedelta(days=29) < row.expires_at - timezone.now() <= timedelta(days=30)
    assert row.last_used_at is None
    assert token_authenticate(made.secret) == row
    assert ApiToken.objects.get().last_used_at is not None


def test_each_of_the_users_tokens_works_and_revoking_one_leaves_the_other(client, owner):
    first, second = token_create(user=owner, name="a").secret, token_create(user=owner, name="b").secret
    client.force_login(owner)
    response = client.post(f"/account/tokens/{ApiToken.objects.get(name='a').pk}/revoke/")
    assert response.status_code == 302
    assert ApiClient(client, first)("GET", "/overlays").status_code == 401
    assert ApiClient(client, second)("GET", "/overlays").status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer l4m_nosuchtoken", "Token {secret}", "Basic {secret}", "Bearer {secret}x"],
)
def test_a_request_without_a_valid_token_answers_401(client, owner_token, overlay, header):
    headers = {"Authorization": header.format(secret=owner_token)} if header else {}
    response = client.get(f"/api/v1/overlays/{overlay.pk}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_a_session_alone_opens_no_api(owner_client, overlay):
    assert owner_client.get("/api/v1/overlays").status_code == 401


@pytest.mark.parametrize("why", ["revoked", "expired", "inactive user"])
def test_a_revoked_or_expired_token_or_one_of_an_inactive_user_answers_401(api, owner, why):
    if why == "revoked":
        ApiToken.objects.update(revoked_at=timezone.now())
    elif why == "expired":
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        owner.is_active = False
        owner.save()
    assert api("GET", "/overlays").status_code == 401


def test_the_tokens_page_makes_a_token_shows_it_once_and_revokes_it(owner_client, owner):
    page = owner_client.get("/account/tokens/")
    assert page.status_code == 200 and "No tokens yet" in page.content.decode()
    assert 'href="/account/tokens/"' in page.content.decode()  # the header's link

    made = owner_client.post("/account/tokens/", {"name": "ci", "expires_days": "90"})
    assert made.status_code == 201
    token = ApiToken.objects.get(user=owner)
    secret = made.content.decode().split('<code id="new-token">')[1].split("<")[0]
    assert token_digest(secret) == token.digest and token.expires_at is not None

    again = owner_client.get("/account/tokens/").content.decode()
    assert secret not in again and token.prefix in again and "ci" in again

    owner_client.post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None and token.state == "revoked"
    assert token_authenticate(secret) is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "", "expires_days": ""}, "name is required"),
        ({"name": "x", "expires_days": "7"}, "Choose how long"),
    ],
)
def test_the_tokens_page_refuses_a_bad_form_with_400(owner_client, data, error):
    response = owner_client.post("/account/tokens/", data)
    assert response.status_code == 400 and error in response.content.decode()
    assert not ApiToken.objects.exists()


def test_another_users_token_cannot_be_revoked_and_is_not_listed(client, owner, stranger):
    token = token_create(user=owner, name="owner's").token
    client.force_login(stranger)
    assert "owner&#x27;s" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_api_token_command_prints_a_working_token(client, owner):
    out = io.StringIO()
    call_command("api_token", "alice", "--name", "deploy script", stdout=out)
    secret = out.getvalue().strip()
    assert ApiToken.objects.get().name == "deploy script"
    assert ApiClient(client, secret)("GET", "/overlays").status_code == 200
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("api_token", "nobody", "--name", "x")


def test_requests_past_the_rate_answer_429_per_token(client, owner, settings):
    settings.LEFT4ME_API_RATE = "3/min"
    busy, calm = (ApiClient(client, token_create(user=owner, name=n).secret) for n in ("busy", "calm"))
    assert [busy("GET", "/jobs").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = busy("GET", "/jobs")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert calm("GET", "/jobs").status_code == 200


def test_a_token_sent_the_wrong_way_is_never_logged(client, owner_token, settings, caplog):
    settings.DEBUG = True
    response = client.get("/api/v1/overlays", headers={"Authorization": f"Token {owner_token}"})
    assert response.status_code == 401
    assert owner_token not in caplog.text


def test_staff_revoke_a_token_in_the_admin_and_never_see_its_hash(client, superuser, owner):
    made = token_create(user=owner, name="leaked")
    client.force_login(superuser)
    page = client.get(f"/admin/api/apitoken/{made.token.pk}/change/").content.decode()
    assert made.token.prefix in page and made.token.digest not in page
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [made.token.pk]})
    assert token_authenticate(made.secret) is None
