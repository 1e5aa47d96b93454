"""A campaign's results per office and axis, with response rates and the recommendation score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CampaignScores:
    """What the results need of one campaign answer."""

    office: str
    axes: Mapping[str, int]
    nps: int | None = None

    @classmethod
    def of(cls, answer: Mapping[str, object]) -> CampaignScores:
        axes, nps = answer.get("axes"), answer.get("nps")
        return cls(
            office=str(answer.get("office")),
            axes={str(k): v for k, v in axes.items() if isinstance(v, int)} if isinstance(axes, Mapping) else {},
            nps=nps if isinstance(nps, int) else None,
        )


@dataclass
class AxisResult:
    answers: int = 0
    total: int = 0
    distribution: dict[int, int] = field(default_factory=lambda: {s: 0 for s in range(1, 6)})

    @property
    def mean(self) -> float | None:
        return round(self.total / self.answers, 3) if self.answers else None

    @property
    def satisfied_share(self) -> float | None:
        """Share of 4–5 answers (the CSAT definition)."""
        if not self.answers:
            return None
        return round((self.distribution[4] + self.distribution[5]) / self.answers, 4)


@dataclass
class OfficeResult:
    office: str
    invited: int = 0
    answered: int = 0
    axes: dict[str, AxisResult] = field(default_factory=dict)
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0

    @property
    def response_rate(self) -> float | None:
        return round(self.answered / self.invited, 4) if self.invited else None

    @property
    def nps(self) -> float | None:
        if not self.nps_answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.nps_answers, 1)


def campaign_results(
    offices: Iterable[str],
    axes: Iterable[str],
    invited: Mapping[str, int],
    answers: Iterable[CampaignScores | Mapping[str, object]],
) -> list[OfficeResult]:
    """Results per office and axis; ``answers`` give an office, a 1–5 score per axis and the
    optional 0–10 recommendation. Offices in the given order, plus a ``network`` total last."""
    axis_names = list(axes)
    by_office = {o: OfficeResult(o, axes={a: AxisResult() for a in axis_names}) for o in offices}
    network = OfficeResult("network", axes={a: AxisResult() for a in axis_names})
    for office, count in invited.items():
        if office in by_office:
            by_office[office].invited += count
            network.invited += count
    for answer in answers:
        scores = answer if isinstance(answer, CampaignScores) else CampaignScores.of(answer)
        if scores.office not in by_office:
            continue
        for result in (by_office[scores.office], network):
            result.answered += 1
            for axis, value in scores.axes.items():
                if axis in result.axes and 1 <= value <= 5:
                    bucket = result.axes[axis]
                    bucket.answers += 1
                    bucket.total += value
                    bucket.distribution[value] += 1
            if scores.nps is not None:
                result.nps_answers += 1
                result.promoters += scores.nps >= 9
                result.detractors += scores.nps <= 6
    return [*by_office.values(), network]
