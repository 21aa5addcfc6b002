"""The job list's "same query through the JobQ API": the current filter as a
curl command and as a `scrapinghub` script, ready to paste."""

import shlex

from django.http import QueryDict

# `spider` is one value per API call: several spiders make several calls.
CLIENT_ARGUMENTS = ("state", "startts", "endts", "has_tag", "lacks_tag")
INTEGER_ARGUMENTS = ("startts", "endts")


def api_snippets(*, base_url: str, list_path: str, project_id: int, filters: QueryDict) -> dict[str, str]:
    """{"curl": …, "python": …} for a /list call with `filters`."""
    spiders: list[str | None] = [*filters.getlist("spider")] or [None]
    curls = []
    for spider in spiders:
        one = filters.copy()
        if spider is not None:
            one.setlist("spider", [spider])
        url = base_url.rstrip("/") + list_path + (f"?{one.urlencode()}" if one else "")
        curls.append(f'curl -u "$SHUB_APIKEY:" {shlex.quote(url)}')
    kwargs = []
    for name in CLIENT_ARGUMENTS:
        values = filters.getlist(name)
        if name in INTEGER_ARGUMENTS and values:
            kwargs.append(f"{name}={int(values[0])}")
        elif values:
            kwargs.append(f"{name}={values!r}")
    args = ", ".join(kwargs)
    lines = [
        "import os",
        "from scrapinghub import ScrapinghubClient",
        "",
        f'client = ScrapinghubClient(os.environ["SHUB_APIKEY"], endpoint={base_url!r})',
        f"jobs = client.get_project({project_id}).jobs",
    ]
    if spiders == [None]:
        lines += [f"for job in jobs.iter({args}):", "    print(job)"]
    else:
        lines += [
            f"for spider in {list(spiders)!r}:",
            f"    for job in jobs.iter(spider=spider{', ' + args if args else ''}):",
            "        print(job)",
        ]
    return {"curl": "\n".join(curls), "python": "\n".join(lines)}
