"""Issue 23 in the web console (same use cases, no redesign): a case's log is numbered 1, 2, 3… on its
page, beside cases opened before it, and times read in Asia/Shanghai."""

from __future__ import annotations

import re

from tests.integration.test_console_http import console, csrf_of, signed_in  # noqa: F401  (fixture)


async def test_the_console_numbers_each_case_log_from_one(console):  # noqa: F811
    client = await signed_in(console, "INSPECTOR")
    numbers = []
    for _ in range(2):  # the second case's log starts at 1 too, though the first one's lines came before
        cases = await client.get("/cases")
        key = re.search(r'name="suggestion" value="([^"]+)"', cases.text)
        assert key, "no suggestion left on the cases page"
        opened = await client.post(
            "/cases", data={"csrf": csrf_of(cases.text), "suggestion": key.group(1), "title": "", "reason": "立案"}
        )
        assert opened.status_code == 303, opened.text[:300]
        page = await client.get(opened.headers["location"].removeprefix("/console"))
        assert page.status_code == 200
        numbers.append([int(n) for n in re.findall(r"<tr><td>(\d+)</td><td>\d{4}-\d\d-\d\d", page.text)])
        assert "Asia/Shanghai" in page.text and " CST" not in page.text
    for seq in numbers:
        assert seq and seq == list(range(1, len(seq) + 1)), numbers
    await client.aclose()
