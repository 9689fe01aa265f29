"""Who may do what over HTTP: users with one role, hashed API tokens, scoping.

Used by the CLI (``rxguard user create``, ``rxguard token create``) and by the
API's dependencies. No HTTP here: interfaces turn :class:`AccessDeniedError`
into 403 and a failed :func:`authenticate` into 401.
"""

from rxguard.access.policy import Principal, Role
from rxguard.access.tokens import authenticate, create_token, revoke_token
from rxguard.access.users import create_user, get_user, list_users
from rxguard.errors import AccessDeniedError

__all__ = [
    "AccessDeniedError",
    "Principal",
    "Role",
    "authenticate",
    "create_token",
    "create_user",
    "get_user",
    "list_users",
    "revoke_token",
]
