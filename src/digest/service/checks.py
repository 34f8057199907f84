"""Running the pre-send gate over every variant an edition will be sent in."""

from dataclasses import dataclass
from datetime import date

from digest.errors import EditionError
from digest.gate import Finding, check_message
from digest.service.app import App
from digest.service.editions import frozen_edition, sendable
from digest.service.messages import PREVIEW_RECIPIENT, Variants, compose, slot_values_for
from digest.store.editions import StoredEdition
from digest.store.subscribers import section_choices


@dataclass(frozen=True, slots=True)
class VariantCheck:
    sections: tuple[str, ...]
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)


def check_row(app: App, edition: StoredEdition) -> list[VariantCheck]:
    """The gate's findings for the full edition and for each section set subscribers chose."""
    variants = Variants(app, edition)
    with app.transaction() as session:
        choices = {None} | section_choices(session)
    budget = int(app.settings.edition.html_budget_kb * 1024)
    results = []
    for choice in sorted(choices, key=lambda c: (c is not None, c or ())):
        sections = list(choice) if choice else None
        rendered, template = variants.for_sections(sections), variants.template(sections)
        if rendered is None or template is None:
            continue
        composed = compose(app, edition.key, template, PREVIEW_RECIPIENT, variants.dkim)
        # The gate reads the parts as rendered, too, to tell article text from the template's.
        marked = rendered.marked(slot_values_for(app, edition.key, PREVIEW_RECIPIENT))
        label = choice or tuple(s["key"] for s in edition.content["sections"])
        results.append(VariantCheck(label, check_message(composed.raw, budget, marked)))
    return results


def check(app: App, day: date) -> list[VariantCheck]:
    """Build the edition if needed, then run the gate over its variants."""
    sendable(app, day)
    with app.transaction() as session:
        edition = frozen_edition(session, app, day)
    return check_row(app, edition)


def require_passing(app: App, edition: StoredEdition) -> None:
    """Refuse to send an edition that fails the gate; nothing leaves."""
    failed = [
        f"{'+'.join(v.sections) or 'all'}: {f.check}: {f.detail}"
        for v in check_row(app, edition)
        for f in v.findings
        if not f.passed
    ]
    if failed:
        raise EditionError(
            f"edition {edition.key} failed the pre-send check ({'; '.join(failed)}); "
            f"nothing was sent. See 'digest check --date {edition.day}'"
        )
