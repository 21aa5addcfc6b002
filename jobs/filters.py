"""One FilterSet for the JobQ API and the HTML job list.

Its parameter names are the JobQ ones (`spider`, `state`, `startts`,
`endts`, `has_tag`, `lacks_tag`), so a dashboard URL is an API query.
django-filter's `.qs` silently drops invalid fields: callers check
`is_valid()` first and answer 400 (API) or show the form error (page).
"""

import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Self

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Q
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from .jobmeta import MAX_TEXT
from .keys import INT64_MAX, INT64_MIN, JobKey, parse_job_key
from .models import (
    STATES,
    DayCount,
    DaySelection,
    DayTagCount,
    Job,
    JobCount,
    JobQuerySet,
    Project,
    State,
    TagCount,
)
from .outcomes import OUTCOMES, outcome_q
from .spidernames import spider_names
from .timezones import DAY_MS, MAX_MS, MIN_MS, in_time_range


class ListWidget(forms.TextInput):
    """Reads every value of a repeated GET parameter."""

    def value_from_datadict(
        self, data: Mapping[str, Any], files: MultiValueDict[str, Any], name: str
    ) -> list[Any]:
        if hasattr(data, "getlist"):
            return data.getlist(name)
        value = data.get(name)
        return value if isinstance(value, list) else ([] if value is None else [value])

    def format_value(self, value: object) -> None:
        return None


class NameListField(forms.Field):
    """Repeated names (spiders, tags): empty values dropped, duplicates folded."""

    widget = ListWidget

    def to_python(self, value: object) -> list[str]:
        if not value:
            return []
        names: list[str] = []
        for name in value if isinstance(value, list) else [value]:
            name = str(name).strip()
            if name and name not in names:
                names.append(name)
        return names

    def validate(self, value: list[str]) -> None:
        for name in value:
            ProhibitNullCharactersValidator()(name)
            if len(name) > MAX_TEXT:
                raise forms.ValidationError(f"{name[:20]}… is longer than {MAX_TEXT} characters.")


class Int64Field(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)


class SharedFields(dict):
    """A form class's fields, handed to each of its forms as they are: Django
    deep-copies a form's fields for each form, that is for each request, so
    that a form may change its own; these forms never do, and the copies were
    a tenth of an API list request's time."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


def share_fields[F: type[forms.Form]](form_class: F) -> F:
    """The form class, its forms sharing its fields (SharedFields)."""
    form_class.base_fields = SharedFields(form_class.base_fields)
    return form_class


class ShallowCopied:
    """A filter that a FilterSet copies shallowly. django-filter deep-copies
    every filter for each FilterSet, that is for each request, and that was
    a tenth of an API request's time; these filters keep nothing of a
    request but the `parent` and `model` the FilterSet sets on its copy."""

    method: Any

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        copied = copy.copy(self)
        if self.method is not None:
            # The setter binds a new FilterMethod to the copy (and so to its parent).
            copied.method = self.method
        return copied


class ShallowCopiedFilters(dict):
    """A FilterSet class's filters, each copied by its own __deepcopy__
    (ShallowCopied) without copy.deepcopy's walk of the mapping itself."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {name: filter_.__deepcopy__(memo) for name, filter_ in self.items()}


class StateField(django_filters.fields.MultipleChoiceField):
    """States, with empty values (`state=`) ignored like every other empty parameter."""

    def to_python(self, value: Any) -> list[str]:
        return [state for state in super().to_python(value) if state]


class StateFilter(ShallowCopied, django_filters.MultipleChoiceFilter):
    field_class = StateField


class OutcomeFilter(StateFilter):
    """jobq's extension of JobQ: finished jobs by how they ended (jobs/outcomes.py)."""

    def filter(self, qs: JobQuerySet, value: list[str]) -> JobQuerySet:
        return qs.filter(outcome_q(value)) if value else qs


class NameListFilter(ShallowCopied, django_filters.Filter):
    field_class = NameListField

    def filter(self, qs: JobQuerySet, value: list[str]) -> JobQuerySet:
        if not value:
            return qs
        return super().filter(qs, value)


class Int64Filter(ShallowCopied, django_filters.Filter):
    field_class = Int64Field


class JobFilter(django_filters.FilterSet):
    spider = NameListFilter(method="filter_spider", label="Spider")
    state = StateFilter(choices=State.choices, method="filter_state", label="State")
    outcome = OutcomeFilter(
        choices=[(outcome.value, outcome.label) for outcome in OUTCOMES], label="Outcome (finished jobs)"
    )
    startts = Int64Filter(field_name="ts", lookup_expr="gte", label="From (ms, inclusive)")
    endts = Int64Filter(field_name="ts", lookup_expr="lt", label="To (ms, exclusive)")
    has_tag = NameListFilter(field_name="tags", lookup_expr="overlap", label="Has tag")
    lacks_tag = NameListFilter(field_name="tags", lookup_expr="overlap", exclude=True, label="Lacks tag")

    # JobQ counts and lists finished jobs when no state is asked for.
    default_states = (State.FINISHED,)
    # One form class per FilterSet class: django-filter builds a new class,
    # with new fields, for each FilterSet; its forms copy the fields anyway.
    _form_classes: ClassVar[dict[type, type[forms.Form]]] = {}

    class Meta:
        model = Job
        fields: list[str] = []

    def __init__(self, data: Mapping[str, Any] | None = None, *, project: Project, **kwargs: Any) -> None:
        # The project is applied when the jobs are filtered, not here:
        # building a filtered queryset was a twentieth of a count that the
        # counters answer without one.
        super().__init__(data, **kwargs)
        self.project = project

    @classmethod
    def get_filters(cls) -> dict[str, Any]:
        filters = super().get_filters()
        if not all(isinstance(filter_, ShallowCopied) for filter_ in filters.values()):
            raise TypeError(f"{cls.__name__}'s filters must be ShallowCopied: each keeps its own copy state.")
        return ShallowCopiedFilters(filters)

    def get_form_class(self) -> type[forms.Form]:
        form_class = JobFilter._form_classes.get(type(self))
        if form_class is None:
            form_class = JobFilter._form_classes[type(self)] = share_fields(super().get_form_class())
        return form_class

    @property
    def states(self) -> list[str]:
        return self.form.cleaned_data.get("state") or list(self.default_states)

    @property
    def spider_names(self) -> list[str]:
        return self.form.cleaned_data.get("spider") or []

    @cached_property
    def any_state_qs(self) -> JobQuerySet:
        """The matching jobs in every state: every filter but `state`
        (the dashboard's per-state counts). Call after is_valid()."""
        return super().filter_queryset(self.queryset.for_project(self.project))

    def filter_queryset(self, queryset: JobQuerySet) -> JobQuerySet:
        return super().filter_queryset(queryset.for_project(self.project)).in_states(self.states)

    def filter_state(self, queryset: JobQuerySet, name: str, value: list[str]) -> JobQuerySet:
        return queryset  # applied with the default in filter_queryset

    def filter_spider(self, queryset: JobQuerySet, name: str, value: list[str]) -> JobQuerySet:
        return queryset.filter(spider_id__in=self.spider_ids)

    @cached_property
    def spider_ids(self) -> list[int]:
        """The ids of the named spiders, from the names this process keeps
        (jobs/spidernames.py): filtering by id lets the database walk the
        (project, spider, ts, id) index instead of joining."""
        return spider_names(self.project).ids_of(self.spider_names)

    def _used(self, names: Iterable[str]) -> set[str]:
        data = self.form.cleaned_data
        return {name for name in names if data.get(name) not in (None, [], "")}

    def counted_by_counters(self) -> bool:
        """True when the counters answer the count: no filter but spider and state."""
        return not self._used(NOT_COUNTED_FILTERS)

    def _single_tag(self, used: set[str]) -> tuple[str, str] | None:
        """("has_tag" or "lacks_tag", tag) when `used` is that one filter with one tag."""
        if used not in ({"has_tag"}, {"lacks_tag"}):
            return None
        (name,) = used
        tags = self.form.cleaned_data[name]
        return (name, tags[0]) if len(tags) == 1 else None

    def one_tag(self) -> tuple[str, str] | None:
        """("has_tag" or "lacks_tag", tag) when that is the only filter besides
        spider and state: the tag counters answer it."""
        return self._single_tag(self._used(NOT_COUNTED_FILTERS))

    def day_tag(self) -> tuple[str, str] | None:
        """("has_tag" or "lacks_tag", tag) when that is the only filter besides
        spider, state, time window and outcome: the daily figures per tag
        answer it."""
        return self._single_tag(self._used(NOT_COUNTED_FILTERS) - set(DAY_FILTERS))

    def answered_by_days(self) -> bool:
        """True when the daily figures answer the filter a whole day at a
        time: no filter besides spider, state, time window, outcome and one tag."""
        return not self._used(NOT_COUNTED_FILTERS) - set(DAY_FILTERS) or self.day_tag() is not None

    def counted_by_days(self) -> bool:
        """True when the daily figures answer the count (the counters do not):
        a time window or an outcome, with at most one tag."""
        return bool(self._used(DAY_FILTERS)) and self.answered_by_days()

    def whole_days(self) -> tuple[int | None, int | None] | None:
        """(first, last): the UTC days wholly inside startts/endts (None:
        unbounded on that side); None when no whole day is."""
        startts, endts = self.form.cleaned_data.get("startts"), self.form.cleaned_data.get("endts")
        first = None if startts is None else -(-startts // DAY_MS)
        last = None if endts is None else endts // DAY_MS - 1
        if first is not None and last is not None and first > last:
            return None
        return first, last

    def edges(self, days: tuple[int | None, int | None]) -> list[Q]:
        """The parts of the time window outside the whole `days`: the partial
        days at its ends, each to be read on its own. One OR of both made
        PostgreSQL walk the whole window's index range and drop its middle
        (a week: 190,000 entries read for 27,000)."""
        first, last = days
        edges = []
        if first is not None and first * DAY_MS != self.form.cleaned_data["startts"]:
            edges.append(Q(ts__lt=first * DAY_MS))
        if last is not None and (last + 1) * DAY_MS != self.form.cleaned_data["endts"]:
            edges.append(Q(ts__gte=(last + 1) * DAY_MS))
        return edges

    def day_figures(self, days: tuple[int | None, int | None]) -> "DayFigures":
        """The daily figures of the filter over `days`, in every state
        (answered_by_days() must hold): of its tag if it has one."""
        outcomes = self.form.cleaned_data.get("outcome") or None
        spiders = self.spider_names or None
        every = DayCount.objects.selection(self.project, STATES, spiders, outcomes, days)
        tag = self.day_tag()
        if tag is None:
            return DayFigures(every)
        name, value = tag
        tagged = DayTagCount.objects.selection(self.project, STATES, spiders, outcomes, days, tag=value)
        return DayFigures(tagged) if name == "has_tag" else DayFigures(every, without=tagged)

    def counts_by_state(self) -> dict[str, int] | None:
        """{state: matching jobs} for every state (the filter without its
        state part), exact from the counters; None when they cannot tell
        (several tags, a tag with a time window, ...)."""
        spiders = self.spider_names or None
        if self.counted_by_counters():
            return JobCount.objects.by_state(self.project, spider_names=spiders)
        tag = self.one_tag()
        if tag is not None:
            name, value = tag
            tagged = TagCount.objects.by_state(self.project, value, spiders)
            if name == "has_tag":
                return tagged
            totals = JobCount.objects.by_state(self.project, spider_names=spiders)
            return {state: totals[state] - tagged[state] for state in STATES}
        days = self.whole_days() if self.counted_by_days() else None
        if days is None:
            return None
        counts = self.day_figures(days).by_state()
        for edge in self.edges(days):
            for state, n in self.any_state_qs.filter(edge).per_state():
                counts[state] += n
        return counts

    def count(self) -> int:
        """The number of matching jobs, exact: from the counters when they can
        tell (spider, state, one tag, time windows a day at a time plus the
        partial days at their ends), else by counting the jobs."""
        spiders = self.spider_names or None
        if self.counted_by_counters():
            return JobCount.objects.total(self.project, self.states, spiders)
        tag = self.one_tag()
        if tag is not None:
            name, value = tag
            tagged = TagCount.objects.total(self.project, self.states, value, spiders)
            if name == "has_tag":
                return tagged
            return JobCount.objects.total(self.project, self.states, spiders) - tagged
        days = self.whole_days() if self.counted_by_days() else None
        if days is None:
            return self.qs.count()
        total = self.day_figures(days).in_states(self.states).total()
        for edge in self.edges(days):
            total += self.qs.filter(edge).count()
        return total


@dataclass
class DayFigures:
    """Daily figures of a filter: one queryset of them, or (`lacks_tag`)
    every job's figures `without` those of the tag."""

    figures: DaySelection
    without: DaySelection | None = None

    def in_states(self, states: Iterable[str]) -> "DayFigures":
        states = list(states)
        without = None if self.without is None else self.without.in_states(states)
        return DayFigures(self.figures.in_states(states), without)

    def total(self) -> int:
        return self.figures.total() - (0 if self.without is None else self.without.total())

    def by_state(self) -> dict[str, int]:
        """{state: jobs} for every state, zeros included."""
        counts = self.figures.by_state()
        if self.without is not None:
            for state, n in self.without.by_state().items():
                counts[state] -= n
        return counts

    def per_day_by_badge(self) -> list[tuple[int, str, int]]:
        """[(day, badge, n)]: what the dashboard's chart draws."""
        if self.without is None:
            return self.figures.per_day_by_badge()
        counts = Counter({(day, badge): n for day, badge, n in self.figures.per_day_by_badge()})
        counts.subtract({(day, badge): n for day, badge, n in self.without.per_day_by_badge()})
        return [(day, badge, n) for (day, badge), n in counts.items() if n]


# The JobQ filter parameters, in the order URLs spell them; the dashboard
# carries exactly these from page to page, to exports and bulk actions.
FILTER_PARAMS: tuple[str, ...] = tuple(JobFilter.base_filters)
# The filters the per-(project, spider, state) counters cannot answer.
NOT_COUNTED_FILTERS = tuple(name for name in FILTER_PARAMS if name not in ("spider", "state"))
# The filters that the daily figures answer besides spider and state.
DAY_FILTERS = ("startts", "endts", "outcome")


def filter_params(params: QueryDict) -> QueryDict:
    """The JobQ filter part of a query (repeatable values kept, empty ones dropped)."""
    filters = QueryDict(mutable=True)
    for name in FILTER_PARAMS:
        values = [value for value in params.getlist(name) if value != ""]
        if values:
            filters.setlist(name, values)
    return filters


class PageTimeField(Int64Field):
    """`startts`/`endts` on a page: whole milliseconds that a page can show
    as a date (its date inputs, its chart's days). The API takes any 64-bit
    integer there, and `1.0` for 1; a page says what is wrong instead."""

    def to_python(self, value: Any) -> int | None:
        text = "" if value is None else str(value).strip()
        if text and not re.fullmatch(r"-?[0-9]+", text):
            raise forms.ValidationError(f"{text[:30]!r} is not a whole number of milliseconds.")
        return super().to_python(text)

    def validate(self, value: int | None) -> None:
        super().validate(value)
        if value is not None and not in_time_range(value):
            raise forms.ValidationError(
                f"{value} is not a time between 1970-01-01 and 9999-12-31 ({MIN_MS} to {MAX_MS} ms)."
            )


class PageTimeFilter(ShallowCopied, django_filters.Filter):
    field_class = PageTimeField


class PageJobFilter(JobFilter):
    """The JobFilter of the dashboard's job list, its partials, exports and
    bulk actions: the same parameters, with times a page can show."""

    startts = PageTimeFilter(field_name="ts", lookup_expr="gte", label="From (ms, inclusive)")
    endts = PageTimeFilter(field_name="ts", lookup_expr="lt", label="To (ms, exclusive)")


class ProjectsField(forms.ModelMultipleChoiceField):
    """Projects picked by id (a new API key's), each id checked to be a
    64-bit one before the database is asked: 2**64 overflows its integer."""

    @staticmethod
    def is_id(pk: object) -> bool:
        text = str(pk)
        return text.isascii() and text.isdigit() and 0 < int(text) <= INT64_MAX

    def bound_data(self, data: Any, initial: Any) -> Any:
        # The form drawn again with its error must not look the bad id up either
        # (the admin's autocomplete widget queries the values it shows).
        data = super().bound_data(data, initial)
        return [pk for pk in data if self.is_id(pk)] if isinstance(data, list | tuple) else data

    def _check_values(self, value: Any) -> Any:
        for pk in value:
            text = str(pk)
            if not self.is_id(text):
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": text[:30]}
                )
        return super()._check_values(value)  # type: ignore[misc]  # private, not in the stubs


class JobKeyField(forms.CharField):
    # A CharField whose clean value is a JobKey rather than the text.
    def to_python(self, value: Any) -> JobKey | None:  # type: ignore[override]
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_job_key(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class JobKeyListField(NameListField):
    def clean(self, value: Any) -> list[JobKey]:
        keys = []
        for text in self.to_python(value):
            try:
                keys.append(parse_job_key(text))
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return keys


@share_fields
class ListParamsForm(forms.Form):
    """The parameters of /list and /summary beyond the filters."""

    count = Int64Field(required=False, min_value=0)
    start = Int64Field(required=False, min_value=0)
    stop = JobKeyField(required=False)
    key = JobKeyListField(required=False)
    jobmeta = NameListField(required=False)

    def __init__(self, data: Mapping[str, Any], *, project: Project) -> None:
        super().__init__(data)
        self.project = project

    def _clean_own_key(self, key: JobKey, field: str) -> JobKey:
        if key.project_id != self.project.pk:
            raise forms.ValidationError(f"{key} is not a job of project {self.project.pk}.")
        return key

    def clean_stop(self) -> JobKey | None:
        key = self.cleaned_data["stop"]
        return key and self._clean_own_key(key, "stop")

    def clean_key(self) -> list[JobKey]:
        return [self._clean_own_key(key, "key") for key in self.cleaned_data["key"]]
