"""Running the pre-send gate over every variant an edition will be sent in."""

from dataclasses import dataclass
from datetime import date

from digest.core.states import EditionStatus
from digest.errors import EditionError
from digest.gate import Finding, check_message
from digest.service.app import App
from digest.service.editions import build, frozen_edition
from digest.service.messages import PREVIEW_RECIPIENT, Variants, compose, slot_values_for
from digest.store.subscribers import section_choices
from digest.store.tables import EditionRow


@dataclass(frozen=True, slots=True)
class VariantCheck:
    sections: tuple[str, ...]
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)


def check_row(app: App, row: EditionRow) -> list[VariantCheck]:
    """The gate's findings for the full edition and for each section set subscribers chose."""
    variants = Variants(app, row)
    with app.transaction() as session:
        choices = {None} | section_choices(session)
    budget = int(app.settings.edition.html_budget_kb * 1024)
    results = []
    for choice in sorted(choices, key=lambda c: (c is not None, c or ())):
        sections = list(choice) if choice else None
        rendered, template = variants.for_sections(sections), variants.template(sections)
        if rendered is None or template is None:
            continue
        composed = compose(app, row, template, PREVIEW_RECIPIENT, variants.key)
        # The gate reads the parts as rendered, too, to tell article text from the template's.
        marked = rendered.marked(slot_values_for(app, row, PREVIEW_RECIPIENT))
        label = choice or tuple(s["key"] for s in row.content["sections"])
        results.append(VariantCheck(label, check_message(composed.raw, budget, marked)))
    return results


def check(app: App, day: date) -> list[VariantCheck]:
    """Build the edition if needed, then run the gate over its variants."""
    built = build(app, day)
    if built.status == EditionStatus.SKIPPED:
        raise EditionError(f"edition {built.edition.name}:{day} was skipped: {built.skip_reason}")
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
    return check_row(app, row)


def require_passing(app: App, row: EditionRow) -> None:
    """Refuse to send an edition that fails the gate; nothing leaves."""
    failed = [
        f"{'+'.join(v.sections) or 'all'}: {f.check}: {f.detail}"
        for v in check_row(app, row)
        for f in v.findings
        if not f.passed
    ]
    if failed:
        raise EditionError(
            f"edition {row.name}:{row.day} failed the pre-send check ({'; '.join(failed)}); "
            f"nothing was sent. See 'digest check --date {row.day}'"
        )
