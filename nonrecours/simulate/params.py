"""Parameters of the synthetic population, with their defaults and sources.

Every number the simulator uses lives here, in frozen dataclasses that can be
changed from Python with :func:`dataclasses.replace`::

    from dataclasses import replace
    from nonrecours.simulate import SimulationParams
    p = SimulationParams()
    p = replace(p, territory=replace(p.territory, outside_scale=1.8))

The defaults are *orders of magnitude*, not official statistics. Where a
figure comes from a published source the source is named; the rest are
plausible values chosen so that the population looks like the French one
to a survey statistician (real recipient files are confidential).

Main sources
------------
- DREES, *Minima sociaux et prestations sociales* (annual; about 1.9 M RSA,
  1.2 M AAH, 0.7 M ASPA and 0.35 M ASS recipients around 2020): benefit shares
  45/30/16/9 %, household and housing profiles (BMS survey).
- ANCT / ONPV reports on the priority neighbourhoods (QPV, décret
  2014-1750): about 1,500 QPVs, 5.4 M inhabitants, poverty rate about 43 %
  (15 % elsewhere), about 60 % social housing.
- Fonds CMU / DREES non-take-up estimates: CMU-C about 65 % take-up among RSA
  recipients, ACS 30–45 %; energy social tariffs (TPN/TSS) about 60 % before
  their 2018 replacement by the chèque énergie.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import OptionError, message

__all__ = [
    "BENEFITS",
    "AGE_BANDS",
    "HOUSEHOLDS",
    "HOUSING",
    "RIGHTS",
    "DEPARTEMENT_WEIGHTS",
    "TerritoryParams",
    "CovariateParams",
    "CompositionParams",
    "EligibilityParams",
    "FileResourceParams",
    "RESOURCE_GAPS",
    "RightModel",
    "TakeupParams",
    "SimulationParams",
]

#: Minimum income benefits, in the order used by every per-benefit tuple below.
BENEFITS = ("RSA", "AAH", "ASPA", "ASS")
#: Age bands of the recipient (the benefit holder).
AGE_BANDS = ("18-24", "25-34", "35-49", "50-64", "65-74", "75+")
#: Household types: single, lone parent, couple, couple with children.
HOUSEHOLDS = ("single", "lone_parent", "couple", "couple_children")
#: Housing tenure: social rental, private rental, owner.
HOUSING = ("social", "private_rental", "owner")
#: Rights whose take-up is measured: CMU-C, ACS (health), TPN (electricity), TSS (gas).
RIGHTS = ("cmuc", "acs", "tpn", "tss")

#: Relative weights for drawing the département of a QPV. Heavy départements carry
#: approximately their number of QPVs in the 2015 list (Nord, Seine-Saint-Denis,
#: Bouches-du-Rhône, Pas-de-Calais, overseas...); other départements weigh 6, rural
#: ones 2. 975 (Saint-Pierre-et-Miquelon, not a département) has no QPV.
DEPARTEMENT_WEIGHTS: tuple[tuple[str, float], ...] = tuple(
    [(f"{d:02d}", 6.0) for d in range(1, 96) if d != 20]
    + [("2A", 2.0), ("2B", 2.0)]
    + [("971", 31.0), ("972", 23.0), ("973", 32.0), ("974", 49.0), ("976", 36.0)]
)
_HEAVY = {
    "59": 98,
    "93": 64,
    "13": 60,
    "62": 58,
    "76": 44,
    "94": 43,
    "95": 41,
    "91": 39,
    "69": 38,
    "57": 30,
    "77": 28,
    "33": 25,
    "92": 25,
    "30": 23,
    "78": 22,
    "31": 21,
    "51": 21,
    "60": 21,
    "68": 21,
    "75": 20,
    "42": 19,
    "67": 19,
    "54": 18,
    "84": 18,
    "02": 17,
    "34": 17,
    "38": 17,
    "83": 17,
    "06": 16,
    "45": 16,
    "44": 15,
    "25": 14,
    "63": 14,
    "08": 13,
    "37": 13,
    "80": 13,
    "10": 12,
    "49": 12,
    "21": 11,
    "66": 11,
    "86": 9,
    "87": 9,
}
_RURAL = {"04", "05", "09", "12", "15", "19", "23", "32", "43", "46", "48", "52", "55", "70"}
DEPARTEMENT_WEIGHTS = tuple((d, float(_HEAVY.get(d, 2.0 if d in _RURAL else w))) for d, w in DEPARTEMENT_WEIGHTS)


def _check_probs(name: str, values, size: int) -> None:
    v = np.asarray(values, dtype=float)
    if v.shape != (size,) or np.any(v < 0) or abs(v.sum() - 1.0) > 1e-6:
        raise OptionError(
            message(
                "probabilities must be non-negative and sum to 1",
                where=f"parameter {name}",
                expected=f"{size} values summing to 1",
                found=repr(tuple(values)),
            )
        )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise OptionError(
            message(
                "parameter out of range",
                where=f"parameter {name}",
                expected=f"a value in [{low}, {high}]",
                found=repr(value),
            )
        )


@dataclass(frozen=True)
class TerritoryParams:
    """Sizes and recipient densities of the territories.

    Each QPV is paired with the rest of its urban area (a non-QPV territory).

    Parameters
    ----------
    qpv_pop_min, qpv_pop_median, qpv_pop_mean : float
        Minimum (1,000), median (2,700) and mean (3,900) QPV population. The
        population is ``min + LogNormal``, the lognormal matched to the median
        and mean above the minimum (sigma about 1.03: a long tail, the largest of
        1,500 QPVs typically 40,000 to 90,000). Source: ONPV (a QPV has at least
        1,000 inhabitants); issue 2 for the median and mean.
    outside_ratio_median : float
        Median ratio of the non-QPV part's population to its QPV's (7).
    outside_ratio_sigma : float
        Log-scale SD of that ratio (0.9; mean ratio about 10.5). With the defaults
        the non-QPV parts average about 41,000 inhabitants, so that the 1,500 pairs
        hold about 2.9 M recipients, the order of the French total of the four benefits.
    outside_scale : float
        Multiplier of every non-QPV population (1.0). ``outside_scale=1.8`` at 1,500
        territories gives about 5 M recipients.
    qpv_density, outside_density : float
        Mean recipients per inhabitant, 8 % in QPVs and half that (4 %) outside.
    density_sigma : float
        Log-scale SD of the density across territories (0.25), driven by the
        territory's poverty factor (so poverty covariates predict the count).
    urban_area_corr : float
        Correlation of the latent poverty and access factors between a QPV and the
        rest of its urban area (0.5).
    departement_weights : tuple of (code, weight)
        Relative weights for the QPV's département (:data:`DEPARTEMENT_WEIGHTS`).
    max_territories : int
        Upper bound on the number of QPVs (100,000; about 26,000 give 50 M
        recipients). Serials have 3 digits, more where a département exceeds 999 QPVs.
    """

    qpv_pop_min: float = 1000.0
    qpv_pop_median: float = 2700.0
    qpv_pop_mean: float = 3900.0
    outside_ratio_median: float = 7.0
    outside_ratio_sigma: float = 0.9
    outside_scale: float = 1.0
    qpv_density: float = 0.08
    outside_density: float = 0.04
    density_sigma: float = 0.25
    urban_area_corr: float = 0.5
    departement_weights: tuple[tuple[str, float], ...] = DEPARTEMENT_WEIGHTS
    max_territories: int = 100_000

    def __post_init__(self) -> None:
        if not (0 < self.qpv_pop_min < self.qpv_pop_median < self.qpv_pop_mean):
            raise OptionError(
                message(
                    "QPV population parameters are inconsistent",
                    where="TerritoryParams",
                    expected="0 < qpv_pop_min < qpv_pop_median < qpv_pop_mean",
                    found=f"{self.qpv_pop_min}, {self.qpv_pop_median}, {self.qpv_pop_mean}",
                )
            )
        for name in ("outside_ratio_median", "outside_scale"):
            _check_range(name, getattr(self, name), 1e-6, 1e6)
        for name in ("qpv_density", "outside_density"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        _check_range("urban_area_corr", self.urban_area_corr, -1.0, 1.0)

    def qpv_lognormal(self) -> tuple[float, float]:
        """Return ``(mu, sigma)`` of the lognormal part of the QPV population.

        Notes
        -----
        With ``m0 = median - min`` and ``m1 = mean - min``: ``mu = log(m0)`` and
        ``sigma = sqrt(2 log(m1 / m0))`` since a lognormal's mean/median ratio is
        ``exp(sigma**2 / 2)``.
        """
        m0 = self.qpv_pop_median - self.qpv_pop_min
        m1 = self.qpv_pop_mean - self.qpv_pop_min
        return float(np.log(m0)), float(np.sqrt(2.0 * np.log(m1 / m0)))


@dataclass(frozen=True)
class CovariateParams:
    """Territory covariates of the kind found in administrative sources.

    Each covariate is a noisy function of a latent factor: *poverty* (which also
    drives recipient density, the RSA share and social housing) or *access* to
    services (which drives the territory's take-up random effect). Pairs are
    ``(QPV value, non-QPV value)`` at the factor's mean; slopes are per SD of the
    factor on the logit (rates) or log (densities, income) scale.

    Parameters
    ----------
    poverty_rate : (float, float)
        Median poverty rate (0.42, 0.14); ONPV: 43 % in QPVs, about 15 % elsewhere.
    unemployment_rate : (float, float)
        Median unemployment rate (0.22, 0.10); ONPV orders of magnitude.
    median_income : (float, float)
        Median disposable income per consumption unit, euros a year (13,500, 21,500).
    social_housing_share : (float, float)
        Median share of social housing among dwellings (0.62, 0.16); ONPV.
    gp_density : (float, float)
        General practitioners per 10,000 inhabitants (5.5, 8.8); DREES (about 9 nationally).
    service_density : (float, float)
        Public-service reception points (CAF, CPAM, France Services) per 100,000
        inhabitants (12, 8).
    poverty_slope : float
        Logit slope of poverty, unemployment and social housing on the poverty factor (0.35).
    poverty_noise : float
        Logit noise SD of those three covariates (0.15).
    income_slope, income_noise : float
        Log slope (-0.12) and noise SD (0.05) of median income.
    access_slope : float
        Log slope of GP and service densities on the access factor (0.3); with
        ``access_noise`` (0.25) the log density correlates about 0.75 with the factor.
    access_noise : float
        Log noise SD of the two densities (0.25).

    Notes
    -----
    Achieved with the defaults (1,500 QPVs, seeds 1 and 2): correlation across
    the 3,000 territories between the true CMU-C rate and ``service_density``
    0.62, ``gp_density`` 0.30 (GPs are scarcer in QPVs, where take-up is
    higher), ``poverty_rate`` 0.32, ``social_housing_share`` 0.34,
    ``median_income`` -0.32, ``rsa_share`` 0.19, ``is_qpv`` 0.35; the eight
    covariates explain 50–64 % of the variance of the logit of the true rate of
    each right (a Fay–Herriot model has signal, the rest is the random effect).
    """

    poverty_rate: tuple[float, float] = (0.42, 0.14)
    unemployment_rate: tuple[float, float] = (0.22, 0.10)
    median_income: tuple[float, float] = (13_500.0, 21_500.0)
    social_housing_share: tuple[float, float] = (0.62, 0.16)
    gp_density: tuple[float, float] = (5.5, 8.8)
    service_density: tuple[float, float] = (12.0, 8.0)
    poverty_slope: float = 0.35
    poverty_noise: float = 0.15
    income_slope: float = -0.12
    income_noise: float = 0.05
    access_slope: float = 0.3
    access_noise: float = 0.25


@dataclass(frozen=True)
class CompositionParams:
    """Distribution of the recipients' characteristics.

    Parameters
    ----------
    benefit_shares : tuple of 4 floats
        Overall shares of RSA, AAH, ASPA, ASS (0.45, 0.30, 0.16, 0.09); DREES. The
        territory shifts below are offset by intercepts solved so that the
        recipient-weighted shares equal these in expectation.
    rsa_poverty_shift : float
        Log-odds of RSA (and ASS) versus AAH/ASPA per SD of the poverty factor (0.3).
    rsa_qpv_shift : float
        Extra log-odds of RSA (and ASS) in QPVs (0.4): QPVs hold more RSA recipients.
    age_by_benefit : 4 tuples of 6 floats
        Age bands (:data:`AGE_BANDS`) by benefit. RSA needs age 25 (few under-25s),
        ASPA age 65, AAH stops mostly at pension age, ASS recipients are older
        job-seekers.
    household_by_benefit : 4 tuples of 4 floats
        Household types (:data:`HOUSEHOLDS`) by benefit (DREES BMS orders: RSA
        half single, 30 % lone parents; AAH and ASPA mostly single).
    housing_by_benefit : 4 tuples of 3 floats
        Tenure (:data:`HOUSING`) by benefit in a territory whose social-housing
        share equals ``housing_reference_share``.
    housing_reference_share : float
        Social-housing share at which ``housing_by_benefit`` holds (0.16).
    housing_link : float
        Shift of the log-odds of social housing per unit of
        ``logit(share) - logit(reference)`` (1.0): QPV recipients live mostly in
        social housing.
    """

    benefit_shares: tuple[float, ...] = (0.45, 0.30, 0.16, 0.09)
    rsa_poverty_shift: float = 0.3
    rsa_qpv_shift: float = 0.4
    age_by_benefit: tuple[tuple[float, ...], ...] = (
        (0.05, 0.33, 0.37, 0.25, 0.00, 0.00),  # RSA
        (0.06, 0.17, 0.33, 0.40, 0.04, 0.00),  # AAH
        (0.00, 0.00, 0.00, 0.00, 0.55, 0.45),  # ASPA
        (0.00, 0.15, 0.35, 0.50, 0.00, 0.00),  # ASS
    )
    household_by_benefit: tuple[tuple[float, ...], ...] = (
        (0.48, 0.30, 0.05, 0.17),  # RSA
        (0.70, 0.07, 0.15, 0.08),  # AAH
        (0.70, 0.005, 0.28, 0.015),  # ASPA
        (0.45, 0.15, 0.18, 0.22),  # ASS
    )
    housing_by_benefit: tuple[tuple[float, ...], ...] = (
        (0.30, 0.55, 0.15),  # RSA
        (0.28, 0.45, 0.27),  # AAH
        (0.22, 0.28, 0.50),  # ASPA
        (0.22, 0.45, 0.33),  # ASS
    )
    housing_reference_share: float = 0.16
    housing_link: float = 1.0

    def __post_init__(self) -> None:
        _check_probs("benefit_shares", self.benefit_shares, len(BENEFITS))
        for name, cats in (
            ("age_by_benefit", AGE_BANDS),
            ("household_by_benefit", HOUSEHOLDS),
            ("housing_by_benefit", HOUSING),
        ):
            table = getattr(self, name)
            if len(table) != len(BENEFITS):
                raise OptionError(
                    message(
                        "one row per benefit is needed",
                        where=f"parameter {name}",
                        expected=f"{len(BENEFITS)} rows",
                        found=f"{len(table)} rows",
                    )
                )
            for b, row in zip(BENEFITS, table):
                _check_probs(f"{name}[{b}]", row, len(cats))
        _check_range("housing_reference_share", self.housing_reference_share, 1e-6, 1 - 1e-6)


@dataclass(frozen=True)
class EligibilityParams:
    """Eligibility rules, in the spirit of the French rules.

    A recipient's household income falls below the CMU-C ceiling (eligible for
    CMU-C), between it and the ACS ceiling (CMU-C ceiling + 35 %: eligible for
    ACS), or above (neither). TPN (electricity) and TSS (gas) go to those
    eligible for CMU-C or ACS who hold an electricity or gas contract.

    Parameters
    ----------
    position_by_benefit : 4 tuples of 3 floats
        Probabilities (below CMU-C ceiling, ACS band, above) by benefit for a person
        alone: RSA (1, 0, 0), the RSA is below the CMU-C ceiling; AAH (0.12, 0.73, 0.15)
        and ASPA (0.05, 0.80, 0.15), their full amounts lie just above the CMU-C ceiling;
        ASS (0.45, 0.35, 0.20), partly.
    couple_above_shift : float
        For couples (with or without children) not on RSA, the share of the CMU-C and
        ACS probabilities moved above the ceilings (0.15): a partner's income.
    electricity_by_housing : 3 floats
        Probability of an individual electricity contract by tenure (0.90, 0.92, 0.98).
    gas_by_housing : 3 floats
        Probability of an individual gas contract by tenure (0.30, 0.35, 0.45): gas is
        less common (collective heating in social housing, all-electric dwellings).
    """

    position_by_benefit: tuple[tuple[float, ...], ...] = (
        (1.00, 0.00, 0.00),
        (0.12, 0.73, 0.15),
        (0.05, 0.80, 0.15),
        (0.45, 0.35, 0.20),
    )
    couple_above_shift: float = 0.15
    electricity_by_housing: tuple[float, ...] = (0.90, 0.92, 0.98)
    gas_by_housing: tuple[float, ...] = (0.30, 0.35, 0.45)

    def __post_init__(self) -> None:
        for b, row in zip(BENEFITS, self.position_by_benefit):
            _check_probs(f"position_by_benefit[{b}]", row, 3)
        _check_range("couple_above_shift", self.couple_above_shift, 0.0, 1.0)
        for name in ("electricity_by_housing", "gas_by_housing"):
            for v in getattr(self, name):
                _check_range(name, v, 0.0, 1.0)


#: Kinds of gaps between the resources an organism's file holds and the household's twelve months of resources:
#: income the file does not know (capital income, maintenance received by a lone parent, a partner's earnings in
#: a couple) and a stale declaration (the file holds higher resources of an earlier period).
RESOURCE_GAPS = ("capital_income", "maintenance", "partner_earnings", "stale_declaration")


@dataclass(frozen=True)
class FileResourceParams:
    """What the organisms' files miss of the resources that decide CMU-C, ACS and the tariffs.

    CAF and MSA know the quarterly resources declared for the RSA or the AAH,
    Pôle emploi and the CNAV those of the ASS and the ASPA: not the twelve
    months of every member's income that CMU-C and ACS look at (CSS R. 861-8).
    Each recipient's file has a gap of each kind of :data:`RESOURCE_GAPS` with
    probability ``share[kind][benefit] * qpv_factor[kind]`` (QPV residents) or
    ``share[kind][benefit]`` (elsewhere); ``maintenance`` only for lone parents,
    ``partner_earnings`` only for couples. A gap's amount is uniform in
    ``amount[kind]`` times the household's CMU-C ceiling: missing income is
    taken from the file's resources, a stale declaration added (the file's
    annual resources floored at 15 % of the ceiling). The truth keeps the
    household's real resources and eligibility, so that eligibility read from
    the files is misclassified both ways: missing income makes households over
    a ceiling look under it, a stale declaration the other way round.

    Parameters
    ----------
    share : 4 tuples of 4 floats
        Per kind (:data:`RESOURCE_GAPS` order), probability by benefit (RSA,
        AAH, ASPA, ASS). Defaults: capital income (0.03, 0.15, 0.35, 0.10): the
        ASPA's recipients hold savings more often; maintenance (0.25, 0.20, 0,
        0.25) of lone parents; a partner's earnings (0.05, 0.35, 0.20, 0.35) of
        couples (the RSA is assessed on the household: rarely missing);
        a stale declaration (0.05, 0.10, 0.05, 0.15).
    qpv_factor : 4 floats
        Multiplier of each kind's probability in a QPV: (0.6, 1.2, 1.3, 1.3):
        less capital income, more informal and irregular income.
    amount : 4 tuples of 2 floats
        Range of each kind's amount, as a share of the CMU-C ceiling:
        (0.03, 0.20), (0.10, 0.35), (0.15, 0.60), (0.10, 0.40).

    Notes
    -----
    Orders of magnitude, not estimates: the Cour des comptes (2015) and the
    Fonds CMU's reports describe the gap between the resources known to the CAF
    and those of the CMU-C assessment, without figures by kind. They are
    chosen so that the files misclassify a few percent of the eligibles and
    bias the administrative take-up rates by a few points, differently by
    benefit and in QPV.
    """

    share: tuple[tuple[float, ...], ...] = (
        (0.03, 0.15, 0.35, 0.10),
        (0.25, 0.20, 0.00, 0.25),
        (0.05, 0.35, 0.20, 0.35),
        (0.05, 0.10, 0.05, 0.15),
    )
    qpv_factor: tuple[float, ...] = (0.6, 1.2, 1.3, 1.3)
    amount: tuple[tuple[float, ...], ...] = ((0.03, 0.20), (0.10, 0.35), (0.15, 0.60), (0.10, 0.40))

    def __post_init__(self) -> None:
        if len(self.share) != len(RESOURCE_GAPS) or len(self.qpv_factor) != len(RESOURCE_GAPS):
            raise OptionError(
                message(
                    "one row per kind of gap",
                    where="parameters share / qpv_factor",
                    expected=f"{len(RESOURCE_GAPS)} rows ({', '.join(RESOURCE_GAPS)})",
                    found=f"{len(self.share)} and {len(self.qpv_factor)}",
                )
            )
        for kind, row, f, (lo, hi) in zip(RESOURCE_GAPS, self.share, self.qpv_factor, self.amount):
            if len(row) != len(BENEFITS):
                raise OptionError(
                    message(
                        "one probability per benefit",
                        where=f"parameter share[{kind}]",
                        expected=f"{len(BENEFITS)} ({', '.join(BENEFITS)})",
                        found=str(len(row)),
                    )
                )
            for b, v in zip(BENEFITS, row):
                _check_range(f"share[{kind}][{b}]", v, 0.0, 1.0)
                _check_range(f"share[{kind}][{b}] * qpv_factor[{kind}]", v * f, 0.0, 1.0)
            _check_range(f"amount[{kind}] low", lo, 0.0, hi)
            _check_range(f"amount[{kind}] high", hi, lo, 5.0)


@dataclass(frozen=True)
class RightModel:
    """Logistic take-up model of one right.

    ``logit P(take up) = alpha + benefit[b] + household[h] + housing[k]
    + qpv * is_qpv + health * took_health + u_territory``, where ``alpha`` is
    solved at simulation time so that the expected take-up among the eligible
    of ``target_benefit`` (all eligible if ``None``) equals ``target_rate``.

    Parameters
    ----------
    target_rate : float
        Calibration target of the take-up rate.
    target_benefit : str or None
        Benefit whose eligible recipients define the target (``"RSA"`` for CMU-C).
    benefit : 4 floats
        Log-odds by benefit (RSA = reference).
    household : 4 floats
        Log-odds by household type (single = reference).
    housing : 3 floats
        Log-odds by tenure (private rental = reference).
    qpv : float
        Log-odds in a QPV.
    health : float
        Log-odds when the person takes up CMU-C or ACS (energy tariffs were granted
        automatically from the health insurers' files); 0 for the health rights.
    """

    target_rate: float
    target_benefit: str | None = None
    benefit: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    household: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    housing: tuple[float, ...] = (0.0, 0.0, 0.0)
    qpv: float = 0.0
    health: float = 0.0

    def __post_init__(self) -> None:
        _check_range("target_rate", self.target_rate, 1e-4, 1 - 1e-4)
        if self.target_benefit is not None and self.target_benefit not in BENEFITS:
            raise OptionError(
                message(
                    "unknown benefit",
                    where="parameter target_benefit",
                    expected="one of " + ", ".join(BENEFITS),
                    found=repr(self.target_benefit),
                )
            )
        for name, size in (("benefit", 4), ("household", 4), ("housing", 3)):
            if len(getattr(self, name)) != size:
                raise OptionError(
                    message(
                        "wrong number of effects",
                        where=f"parameter {name}",
                        expected=f"{size} values",
                        found=repr(getattr(self, name)),
                    )
                )


def _health(target: float, target_benefit: str | None) -> RightModel:
    # Lone parents are in frequent contact with the CAF (family benefits), social
    # tenants with social workers: both take up more; owners and ASS recipients
    # (followed by the employment service, not the CAF) less.
    return RightModel(
        target_rate=target,
        target_benefit=target_benefit,
        benefit=(0.0, 0.2, -0.3, -0.5),
        household=(0.0, 0.35, -0.2, 0.15),
        housing=(0.25, 0.0, -0.3),
        qpv=0.15,
    )


def _energy(target: float) -> RightModel:
    return RightModel(
        target_rate=target,
        benefit=(0.0, 0.1, 0.0, -0.2),
        household=(0.0, 0.2, 0.0, 0.1),
        housing=(0.2, 0.0, -0.1),
        qpv=0.05,
        health=1.8,
    )


@dataclass(frozen=True)
class TakeupParams:
    """Take-up models of the four rights and the territory random effect.

    Parameters
    ----------
    cmuc : RightModel
        CMU-C, target 65 % among eligible RSA recipients (Fonds CMU orders of magnitude).
    acs : RightModel
        ACS, target 38 % among the eligible (published range 30–45 %).
    tpn : RightModel
        Electricity social tariff, target 60 % among the eligible; strongly higher
        for CMU-C/ACS takers (``health = 1.8``).
    tss : RightModel
        Gas social tariff, target 50 % (gas suppliers' files were less complete).
    territory_sd : float
        SD of the territory random effect on the logit scale (0.4).
    right_corr : float
        Share of the random effect's variance common to the four rights of a
        territory (0.8): a territory with good access has high take-up of all rights.
    """

    cmuc: RightModel = field(default_factory=lambda: _health(0.65, "RSA"))
    acs: RightModel = field(default_factory=lambda: _health(0.38, None))
    tpn: RightModel = field(default_factory=lambda: _energy(0.60))
    tss: RightModel = field(default_factory=lambda: _energy(0.50))
    territory_sd: float = 0.4
    right_corr: float = 0.8

    def __post_init__(self) -> None:
        _check_range("territory_sd", self.territory_sd, 0.0, 5.0)
        _check_range("right_corr", self.right_corr, 0.0, 1.0)

    def model(self, right: str) -> RightModel:
        """Return the :class:`RightModel` of ``right`` (one of :data:`RIGHTS`)."""
        return getattr(self, right)


@dataclass(frozen=True)
class SimulationParams:
    """All parameters of :func:`~nonrecours.simulate.simulate_population`.

    Parameters
    ----------
    territory : TerritoryParams
        Territory sizes and densities.
    covariates : CovariateParams
        Territory covariates.
    composition : CompositionParams
        Benefits, ages, households, tenure.
    eligibility : EligibilityParams
        Eligibility rules.
    takeup : TakeupParams
        Take-up models and random effect.
    """

    territory: TerritoryParams = field(default_factory=TerritoryParams)
    covariates: CovariateParams = field(default_factory=CovariateParams)
    composition: CompositionParams = field(default_factory=CompositionParams)
    eligibility: EligibilityParams = field(default_factory=EligibilityParams)
    takeup: TakeupParams = field(default_factory=TakeupParams)

    def to_dict(self) -> dict:
        """Return the parameters as nested plain data (for a manifest)."""

        def conv(obj):
            if hasattr(obj, "__dataclass_fields__"):
                return {f.name: conv(getattr(obj, f.name)) for f in fields(obj)}
            if isinstance(obj, tuple):
                return [conv(v) for v in obj]
            return obj

        return conv(self)
