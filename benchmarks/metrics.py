"""Reading Prometheus text: counters summed by a label, and quantiles of a histogram.

Scrapes are taken before and after a measured window; `Scrape.minus` gives what happened in between.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape, keyed by sample name and sorted labels."""

    samples: Mapping[tuple[str, Labels], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
        return cls(samples)

    def minus(self, earlier: Scrape) -> Scrape:
        """Counter and histogram increases since `earlier` (samples new since then count from zero)."""
        return Scrape({key: value - earlier.samples.get(key, 0.0) for key, value in self.samples.items()})

    def select(self, name: str, **match: str) -> list[tuple[dict[str, str], float]]:
        """Samples called `name` whose labels include every `match` pair."""
        found = []
        for (sample, labels), value in self.samples.items():
            if sample != name:
                continue
            as_dict = dict(labels)
            if all(as_dict.get(k) == v for k, v in match.items()):
                found.append((as_dict, value))
        return found

    def total(self, name: str, **match: str) -> float:
        return sum(value for _, value in self.select(name, **match))

    def by_label(self, name: str, label: str, **match: str) -> dict[str, float]:
        """Sum of `name` per value of `label`."""
        sums: dict[str, float] = {}
        for labels, value in self.select(name, **match):
            key = labels.get(label, "")
            sums[key] = sums.get(key, 0.0) + value
        return sums

    def requests_by_verb(self) -> dict[str, float]:
        """A client's `rest_client_requests_total` per verb. Ours labels requests by verb; client-go's (a
        Go operator's) by HTTP method, which maps onto the verbs but for get, list and watch (all GET)."""
        name = "rest_client_requests_total"
        if any("verb" in labels for labels, _ in self.select(name)):
            return self.by_label(name, "verb")
        verbs = {
            "GET": "get/list/watch",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }
        return {verbs.get(method, method): count for method, count in self.by_label(name, "method").items()}

    def quantile(self, q: float, histogram: str, **match: str) -> float | None:
        """`q` of a histogram as Prometheus' histogram_quantile estimates it (None without observations)."""
        buckets: dict[float, float] = {}
        for labels, value in self.select(histogram + "_bucket", **match):
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        return histogram_quantile(q, buckets)

    def count(self, histogram: str, **match: str) -> float:
        return self.total(histogram + "_count", **match)


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Linear interpolation inside the bucket holding the q-th observation, as Prometheus does."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return bounds[-1]


def combined(scrapes: list[Scrape]) -> Scrape:
    """The sum of several processes' scrapes (e.g. an operator and its restarted successor)."""
    samples: dict[tuple[str, Labels], float] = {}
    for scrape in scrapes:
        for key, value in scrape.samples.items():
            samples[key] = samples.get(key, 0.0) + value
    return Scrape(samples)
