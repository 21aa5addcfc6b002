"""jobs.timezones.local_datetime: the one conversion of stored UTC
milliseconds to the user's zone that every page uses."""

import zoneinfo

from jobs.timezones import MAX_MS, MIN_MS, local_datetime

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def shown(ms, zone):
    moment = local_datetime(ms, zone)
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def test_milliseconds_are_kept_exactly():
    assert shown(1_700_000_000_123, BERLIN) == "2023-11-14T23:13:20.123+01:00"
    assert shown(1_700_000_000_999, BERLIN) == "2023-11-14T23:13:20.999+01:00"
    assert shown(0, zoneinfo.ZoneInfo("UTC")) == "1970-01-01T00:00:00.000+00:00"


def test_the_hour_that_comes_twice_keeps_its_two_offsets():
    # 2023-10-29: Berlin's clocks go back from 03:00 to 02:00.
    first = 1_698_539_400_500  # 00:30:00.5 UTC
    assert shown(first, BERLIN) == "2023-10-29T02:30:00.500+02:00"
    assert shown(first + 3_600_000, BERLIN) == "2023-10-29T02:30:00.500+01:00"


def test_times_a_date_cannot_name_give_none():
    assert shown(MAX_MS, zoneinfo.ZoneInfo("UTC")) == "9999-12-31T23:59:59.999+00:00"
    # Carried past year 9999 by the zone.
    assert shown(MAX_MS, zoneinfo.ZoneInfo("Asia/Tokyo")) is None
    assert shown(MAX_MS + 1, zoneinfo.ZoneInfo("UTC")) is None
    assert shown(MIN_MS, zoneinfo.ZoneInfo("America/New_York")) == "1969-12-31T19:00:00.000-05:00"
    assert shown(MIN_MS - 1, zoneinfo.ZoneInfo("UTC")) is None
