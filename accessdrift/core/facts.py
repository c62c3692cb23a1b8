"""Where each field sits in the stored facts of an identity.

Facts are kept as lists, not dicts: the state of a busy identity is serialized on
every batch, and lists are about half the size.
"""

# A use: [time, event id, system, account, credential, action, success, source ip, subject,
#   user agent]
USE_TS, USE_ID, USE_SYS, USE_ACC, USE_CRED, USE_ACT, USE_OK, USE_IP, USE_SUBJECT = range(9)
# ... then the user agent (uses stored before it was kept have nine fields: ``use_agent``)
USE_UA = 9


def use_agent(use: list[object]) -> object:
    return use[USE_UA] if len(use) > USE_UA else None


# A downstream change: [time, event id, kind, system, account, credential, action, success, subject]
CHG_TS, CHG_ID, CHG_KIND, CHG_SYS, CHG_ACC, CHG_CRED, CHG_ACT, CHG_OK, CHG_SUBJECT = range(9)
# A directory change: [time, event id, change type, owner, source, listed entitlements]
DIR_TS, DIR_ID, DIR_CT, DIR_OWNER, DIR_SRC = range(5)
# ... then a mover's new role's entitlements or None (changes stored before it have five)
DIR_ENTS = 5


def directory_entitlements(entry: list[object]) -> frozenset[str] | None:
    """What a mover's new role lists (``attributes["entitlements"]``); None: nothing."""
    listed = entry[DIR_ENTS] if len(entry) > DIR_ENTS else None
    return frozenset(str(item) for item in listed) if isinstance(listed, list) else None
