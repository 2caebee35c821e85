"""Charity (慈善救助), rules §8: surgery for a listed disease is free within policy scope.

Eligible when the group is a charity group, the primary diagnosis starts with a listed
disease's ICD-10 prefix, the stay included surgery where the disease requires it, and the
person was not older than the disease's age limit at admission. The first match is reported.
"""

from __future__ import annotations

from settlement.funds import Cascade, Case, capped
from settlement.model import Claim, Fund, Group
from settlement.result import Fen, FundStep, Phrase, Sentence
from settlement.tariff import CharityDisease, CharityPolicy


def matching_disease(policy: CharityPolicy, primary_diagnosis: str) -> CharityDisease | None:
    """The first listed disease the primary diagnosis matches, ignoring eligibility."""
    for disease in policy.diseases:
        if primary_diagnosis.startswith(disease.icd_prefixes):
            return disease
    return None


def eligibility(
    policy: CharityPolicy, group: Group | None, claim: Claim, age_at_admission: int
) -> tuple[CharityDisease | None, Phrase]:
    """(the disease, why) when charity pays; (None, why not) otherwise."""
    if group is None or group not in policy.groups:
        return None, Phrase("not in a charity group", ())
    primary = claim.diagnoses[0]
    disease = matching_disease(policy, primary)
    if disease is None:
        return None, Phrase("primary diagnosis {} is not a listed disease", (primary,))
    if disease.surgery_required and not claim.surgery:
        return None, Phrase("{} is covered only when treated by surgery", (disease.name,))
    if disease.age_max is not None and age_at_admission > disease.age_max:
        return None, Phrase(
            "{} is covered up to age {}; age at admission {}",
            (disease.name, disease.age_max, age_at_admission),
        )
    return disease, Phrase("{} ({}), diagnosis {}", (disease.name, disease.name_en, primary))


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    policy = case.tariff.charity
    fund_code = case.tariff.fund_codes[Fund.CHARITY]
    base_fen = cascade.in_scope_left_fen
    why = case.charity_reason
    if case.charity_disease is None:
        step = FundStep(Fund.CHARITY, fund_code, base_fen, 0, None, 0, (("{}: pays 0.00", (why,)),))
        return step, cascade
    paid_fen, cap_remaining_fen = capped(
        base_fen, policy.annual_cap_fen, case.accumulators.charity_paid
    )
    sentences: tuple[Sentence, ...] = (
        (
            "listed disease {}: the in-scope remainder {} is free (政策范围内费用全部免费)",
            (why, Fen(base_fen)),
        ),
        ("no charity cap: pays {}", (Fen(paid_fen),))
        if cap_remaining_fen is None
        else ("charity cap left {}: pays {}", (Fen(cap_remaining_fen), Fen(paid_fen))),
    )
    step = FundStep(
        Fund.CHARITY, fund_code, base_fen, base_fen, cap_remaining_fen, paid_fen, sentences
    )
    return step, cascade.after_paying(paid_fen)
