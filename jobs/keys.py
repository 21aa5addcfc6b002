"""Job keys: "<project>/<spider>/<number>", three positive 64-bit integers,
and the 64-bit bounds that every id and every integer jobq stores keeps."""

from typing import NamedTuple, cast

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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
