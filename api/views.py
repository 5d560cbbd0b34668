"""The tokens page, /account/tokens/: a user's API tokens, made (shown once) and revoked."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api.services import TokenError, token_create, token_revoke
from left4me.http import AuthenticatedHttpRequest

# What the form offers for a token's life, in days ("": until revoked).
EXPIRY_CHOICES = [("", "never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The list; a POST makes a token and shows its secret this once (never again, nor stored)."""
    if request.method == "GET":
        return _render(request)
    days = request.POST.get("expires_days", "")
    if days not in dict(EXPIRY_CHOICES):
        return _render(request, error="Choose how long the token lasts.", status=400)
    try:
        made = token_create(
            user=request.user, name=request.POST.get("name", ""), expires_days=int(days or 0) or None
        )
    except TokenError as exc:
        return _render(request, error=str(exc), status=400)
    return _render(request, new=made.secret, status=201)


def _render(
    request: AuthenticatedHttpRequest, *, new: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "tokens": request.user.api_tokens.all(),
        "new": new,
        "error": error,
        "name": "" if new else request.POST.get("name", ""),
        "expiry_choices": EXPIRY_CHOICES,
    }
    return render(request, "api/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    token = token_revoke(user=request.user, pk=pk)
    messages.success(request, f"Token '{token.name}' revoked: requests with it now answer 401.")
    return redirect("api_tokens")
