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


async def test_a_regulator_closes_a_case_and_reviews_its_flags_in_one_step(console):  # noqa: F811
    inspector = await signed_in(console, "INSPECTOR")
    cases = await inspector.get("/cases")
    key = re.search(r'name="suggestion" value="([^"]+)"', cases.text)
    if key:  # a ring still outside any case
        opened = await inspector.post(
            "/cases", data={"csrf": csrf_of(cases.text), "suggestion": key.group(1), "title": "", "reason": "立案"}
        )
        path = opened.headers["location"].removeprefix("/console")
    else:  # the module's rings are in the cases the test above opened: take one of those, still open
        found = re.search(r'href="/console(/cases/CASE-[^"]+)"', cases.text)
        assert found, "no case and no suggestion on the cases page"
        path = found.group(1)
    page = await inspector.get(path)
    assert 'name="review_flags"' not in page.text  # reviews stay the regulator's
    await inspector.aclose()

    regulator = await signed_in(console, "REGULATOR")
    page = await regulator.get(path)
    moved = await regulator.post(
        f"{path}/status", data={"csrf": csrf_of(page.text), "status": "INVESTIGATING", "reason": "现场检查"}
    )
    assert moved.status_code == 303
    page = await regulator.get(path)
    assert 'name="review_flags"' in page.text  # a closing is offered with the review
    closed = await regulator.post(
        f"{path}/status",
        data={"csrf": csrf_of(page.text), "status": "CLOSED_CONFIRMED", "reason": "回流属实", "review_flags": "1"},
    )
    assert closed.status_code == 303, closed.text[:300]
    page = await regulator.get(path)
    assert "REVIEWED" in page.text and "回流属实" in page.text
    flag_id = re.search(r'href="/console/flags/([0-9a-f]{32})"', page.text)
    assert flag_id, "the case page links its flags"
    flag = await regulator.get(f"/flags/{flag_id.group(1)}")
    assert "回流属实" in flag.text and "CONFIRMED" in flag.text
    await regulator.aclose()
