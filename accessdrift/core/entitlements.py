"""Entitlements: which count as privileged, and what a mover's new role lists.

An entitlement is what a grant gives an account, namespaced like ids (the contract's
"Access ledger" section): ``aws:policy/AdministratorAccess``, ``gcp:<resource>#roles/owner``,
``entra:role/<template id>``, ``okta:admin/SUPER_ADMIN``, ``vault:policy/root``...
Whether one is privileged is a list of shell-style patterns (``fnmatchcase``: ``*``
matches anything, ``/`` included), ``ACCESSDRIFT_PRIVILEGED_ENTITLEMENTS``.
"""

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

# Why each is here: it can grant itself or anyone anything else in its system, or read
# and change every resource of it. Docs: docs/entitlements.md.
DEFAULT_PRIVILEGED: tuple[str, ...] = (
    # AWS managed policies that are full control of the account, or of IAM (which is
    # the same thing one step later); aws:*:policy/ for a customer copy of the same name.
    "aws:policy/AdministratorAccess",
    "aws:policy/IAMFullAccess",
    "aws:policy/AWSOrganizationsFullAccess",
    "aws:*:policy/AdministratorAccess",
    # GCP basic roles and every admin role (roles/iam.securityAdmin, roles/storage.admin,
    # roles/resourcemanager.organizationAdmin...), and minting tokens of any service account.
    "gcp:*#roles/owner",
    "gcp:*#roles/editor",
    "gcp:*#roles/*Admin",
    "gcp:*#roles/*.admin",
    "gcp:*#roles/iam.serviceAccountTokenCreator",
    # Google Workspace super administrators (ROLE_NAME of ASSIGN_ROLE): every user's
    # account, and they may grant themselves any role on the Cloud organization.
    "gcp:admin/_SEED_ADMIN_ROLE",
    "gcp:admin/_DOMAINLESS_SUPER_ADMIN_ROLE",
    # Entra directory roles by template id (checked against Microsoft's list, "Microsoft
    # Entra built-in roles", permissions-reference): Global Administrator, Privileged Role
    # Administrator, Privileged Authentication Administrator, Security Administrator,
    # Application Administrator, Cloud Application Administrator, User Administrator.
    "entra:role/62e90394-69f5-4237-9190-012177145e10",
    "entra:role/e8611ab8-c189-46e8-94e1-60213ab1f814",
    "entra:role/7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "entra:role/194ae4cb-b126-40b2-bd5b-6091b380977d",
    "entra:role/9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "entra:role/158c047a-c907-4556-b7ef-446551a6b5f7",
    "entra:role/fe930be7-5e62-47db-91af-98c3a49a38b1",
    # Okta administrator roles that reach every user or every app.
    "okta:admin/SUPER_ADMIN",
    "okta:admin/ORG_ADMIN",
    "okta:admin/APP_ADMIN",
    "okta:admin/API_ACCESS_MANAGEMENT_ADMIN",
    # Vault's root policy, and the names policies with sudo on sys/ are given by convention.
    "vault:policy/root",
    "vault:policy/admin",
    "vault:policy/sudo",
)

# In the setting, this word stands for the defaults above: "defaults,aws:group/Admins"
# adds one pattern without copying the list.
DEFAULTS_WORD = "defaults"


def expand_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The setting's patterns with ``defaults`` replaced by the built-in list."""
    expanded: list[str] = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        if pattern == DEFAULTS_WORD:
            expanded.extend(DEFAULT_PRIVILEGED)
        else:
            expanded.append(pattern)
    return tuple(dict.fromkeys(expanded))


def is_privileged(entitlement: str | None, patterns: Sequence[str]) -> bool:
    """Whether an entitlement matches one of the (expanded) patterns."""
    if not entitlement:
        return False
    return any(fnmatchcase(entitlement, pattern) for pattern in patterns)


def judged(entitlement: str | None, privileged: bool | None, patterns: Sequence[str]) -> bool:
    """A record's own verdict (a normalizer that saw an inline ``*:*`` policy says True)
    or, when it has none, the patterns'."""
    if privileged is not None:
        return privileged or is_privileged(entitlement, patterns)
    return is_privileged(entitlement, patterns)


def listed_entitlements(attributes: dict[str, str] | None) -> frozenset[str] | None:
    """What a mover's new role entitles (``attributes["entitlements"]``, ids separated
    by commas); None when the source of truth lists nothing."""
    if not attributes or "entitlements" not in attributes:
        return None
    return frozenset(part.strip() for part in attributes["entitlements"].split(",") if part.strip())
