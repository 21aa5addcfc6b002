"""Job keys: "<project>/<spider>/<number>", three positive 64-bit integers;
the 64-bit bounds that every id and every integer jobq stores keeps; and the
range of times (milliseconds since 1970) that jobq stores and can show."""

from typing import NamedTuple, TypeGuard, cast

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Times are milliseconds since 1970-01-01 UTC. Python's datetime (and so every
# page that shows a time) ends at 9999-12-31T23:59:59.999: a time beyond it,
# such as microseconds sent by mistake, could be stored but never shown.
TIME_MIN_MS, TIME_MAX_MS = 0, 253_402_300_799_999
TIME_RANGE = f"from {TIME_MIN_MS} (1970-01-01) to {TIME_MAX_MS} (9999-12-31T23:59:59.999Z)"


def is_time_ms(value: object) -> TypeGuard[int]:
    """True for an integer number of milliseconds in jobq's time range."""
    return isinstance(value, int) and not isinstance(value, bool) and TIME_MIN_MS <= value <= TIME_MAX_MS


class JobKey(NamedTuple):
    project_id: int
    spider_number: int
    number: int

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spider_number}/{self.number}"


def _positive(part: str) -> int:
    # isdigit() alone would accept other scripts' digits; keys are ASCII.
    if not (part.isascii() and part.isdigit()):
        raise ValueError
    value = int(part)
    if not 0 < value <= INT64_MAX:
        raise ValueError
    return value


def parse_job_key(text: object) -> JobKey:
    """The JobKey of "53/7/81"; ValueError with a readable message otherwise."""
    parts = str(text).split("/")
    try:
        if len(parts) != 3:
            raise ValueError
        return JobKey(*(_positive(part) for part in parts))
    except ValueError:
        shown = str(text) if len(str(text)) <= 40 else str(text)[:40] + "…"
        raise ValueError(
            f"{shown!r} is not a job key (project/spider/job, three positive integers)."
        ) from None


def parse_spider_key(text: object) -> tuple[int, int]:
    """(project_id, spider_number) of "53/7"; ValueError otherwise."""
    parts = str(text).split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        # Two parts, checked just above: mypy cannot carry the length over.
        return cast(tuple[int, int], tuple(_positive(part) for part in parts))
    except ValueError:
        raise ValueError(f"{str(text)[:40]!r} is not a spider key (project/spider).") from None
