"""Impersonation: acting as another user (`Impersonate-User`/`-Group`/`-Uid` headers, kubectl `--as`,
`--as-group`, `--as-uid`), as kube-apiserver's impersonation filter does it.

Each thing asked for is authorized for the real caller with the verb `impersonate`: a user on
`users` (a ServiceAccount's name, `system:serviceaccount:<ns>:<name>`, on `serviceaccounts` in its
namespace instead), each group on `groups`, a uid on `uids` (all in the core group, cluster scope).
Any refusal is the request's 403. The request then runs as the impersonated user: its groups are
those asked for, plus a ServiceAccount's two groups and `system:authenticated` (as upstream adds
them); nothing of the real caller's identity is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDictProxy

from podfleet.api import rbac
from podfleet.api.errors import BadRequest
from podfleet.apiserver.auth import AUTHENTICATED_GROUP, Authorizer, RequestAttributes, UserInfo

USER_HEADER, GROUP_HEADER, UID_HEADER = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"
ANONYMOUS, UNAUTHENTICATED = "system:anonymous", "system:unauthenticated"


def requested(headers: Mapping[str, str]) -> bool:
    return any(h in headers for h in (USER_HEADER, GROUP_HEADER, UID_HEADER)) or \
        any(k.lower().startswith("impersonate-extra-") for k in headers)


def impersonate(headers: CIMultiDictProxy[str], real: UserInfo, authorizer: Authorizer) -> UserInfo:
    """The user the request acts as (403 unless `real` may impersonate every part of it)."""
    name = headers.get(USER_HEADER, "")
    groups = [g for g in headers.getall(GROUP_HEADER, [])]
    uid = headers.get(UID_HEADER, "")
    if any(k.lower().startswith("impersonate-extra-") for k in headers):
        raise BadRequest("impersonating user extra fields is not supported")
    if not name:
        what = f"groups={groups}" if groups else f"uid={uid}"
        raise BadRequest(f"requested {what} without impersonating a user")
    sa = rbac.split_service_account_username(name)
    if sa is not None:
        authorizer.authorize(RequestAttributes(real, "impersonate", "serviceaccounts", "", sa[0], sa[1]))
    else:
        authorizer.authorize(RequestAttributes(real, "impersonate", "users", "", "", name))
    for group in groups:
        authorizer.authorize(RequestAttributes(real, "impersonate", "groups", "", "", group))
    if uid:
        authorizer.authorize(RequestAttributes(real, "impersonate", "uids", "", "", uid))
    if sa is not None:
        groups += [g for g in rbac.service_account_groups(sa[0]) if g not in groups]
    if name == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED_GROUP not in groups:
        groups.append(AUTHENTICATED_GROUP)
    return UserInfo(name, tuple(groups), uid=uid)
