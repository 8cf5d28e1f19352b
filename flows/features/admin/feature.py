"""Running CoReflect for an organisation: who may use it, /admin, approved supervisors, leavers
and retention. Built from the organisation's settings (`feature(org)`); `FEATURE` is the default,
open to anyone, with no administrators."""

from __future__ import annotations

import functools

from flows.features.admin import access, screens, upkeep
from flows.features.admin.db import approved
from flows.features.admin.policy import Organisation
from flows.features.supervision.extend import MAY_SUPERVISE
from flows.kernel import allowance
from flows.kernel.feature import Feature
from flows.kernel.turn import Turn


def feature(org: Organisation) -> Feature:
    def may_supervise(t: Turn, person_id: int) -> bool:
        return not org.approved_supervisors or approved(t.tx, person_id)

    return Feature(
        name="admin",
        commands={"admin": functools.partial(screens.command, org), "join": access.join},
        deep_links={access.JOIN_PREFIX: access.join},
        buttons={"ad": functools.partial(screens.button, org)},
        # Open access needs no door (and costs no lookup on each input).
        door=functools.partial(access.door, org) if org.invite_only else None,
        sweep=functools.partial(upkeep.sweep, org),
        erasures=functools.partial(upkeep.erasures, org),
        extends={MAY_SUPERVISE: may_supervise},
        # A storage allowance: kept within it by the kernel (flows/kernel/allowance.py), told
        # once on passing 80% at the end of a turn.
        storage_bytes=org.storage_mb * allowance.MB if org.storage_mb else None,
        after=allowance.notice if org.storage_mb else None,
    )


FEATURE = feature(Organisation())
