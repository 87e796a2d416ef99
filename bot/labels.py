"""Names of the shared vocabulary (stakeholder groups, roles) in every language."""

from __future__ import annotations

from bot.i18n import N_, Translator, isolate
from storage.community import StakeholderGroup

GROUP_LABELS = {
    "activist": N_("Activists and leaders"),
    "vulnerable": N_("Vulnerable groups"),
    "authority": N_("Local authority"),
    "business": N_("Business"),
    "ngo": N_("NGOs"),
    "media": N_("Media"),
    "academia": N_("Academia and experts"),
    "other": N_("Other residents"),
}

ROLE_LABELS = {
    "resident": N_("resident"),
    "coordinator": N_("coordinator"),
    "committee": N_("committee member"),
    "admin": N_("administrator"),
}


def group_label(t: Translator, group: StakeholderGroup | str | None, *, html: bool = True) -> str:
    """A stakeholder group's name: translated for default groups, as written for custom ones."""
    if group is None:
        return t._("no group")
    if isinstance(group, StakeholderGroup):
        if group.label:
            return isolate(group.label) if html else group.label
        group = group.key
    return t._(GROUP_LABELS[group]) if group in GROUP_LABELS else group


def role_label(t: Translator, role: str) -> str:
    return t._(ROLE_LABELS.get(role, role))
