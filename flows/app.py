"""The one composition root: which features CoReflect has, in what order, built into an engine.

The order is the order of Telegram's command menu and of hooks that run for every feature (a
finished question set, /forget, /export). Nothing imports this module but the bot layer, the
console and the tests.
"""

from __future__ import annotations

from flows.features.account.feature import FEATURE as ACCOUNT
from flows.features.admin.feature import FEATURE as ADMIN
from flows.features.admin.feature import feature as admin_feature
from flows.features.admin.policy import Organisation
from flows.features.journal.feature import FEATURE as JOURNAL
from flows.features.plans.feature import FEATURE as PLANS
from flows.features.progress.feature import FEATURE as PROGRESS
from flows.features.sessions.feature import FEATURE as SESSIONS
from flows.features.supervision.feature import FEATURE as SUPERVISION
from flows.features.team.feature import FEATURE as TEAM
from flows.kernel.engine import Engine
from flows.kernel.feature import Feature
from flows.questions.catalogue import Catalogue
from flows.questions.feature import FEATURE as QUESTIONS
from flows.store.core import Store

FEATURES: tuple[Feature, ...] = (
    JOURNAL,
    PROGRESS,
    SUPERVISION,
    PLANS,
    SESSIONS,
    TEAM,
    ACCOUNT,
    ADMIN,
    QUESTIONS,
)

App = Engine  # what the bot layer holds: the engine built with CoReflect's features


__all__ = ["FEATURES", "App", "Organisation", "build"]


def build(
    store: Store,
    catalogue: Catalogue,
    default_timezone: str = "Europe/London",
    org: Organisation | None = None,
) -> App:
    """The engine with every feature; refuses to start on any clash between them. `org`: the
    organisation's settings (who may use it, administrators, retention…); default open."""
    features = FEATURES
    if org is not None:
        features = tuple(admin_feature(org) if f is ADMIN else f for f in FEATURES)
    return Engine(store, catalogue, features, default_timezone)
