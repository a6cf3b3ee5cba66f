"""Documents: appended in order, reordered, deleted; concurrent appends (database mode)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.realistic_suite._counts import cases
from glossator import services
from glossator.db.models import SourceKind
from glossator.errors import NotFound, ValidationError

DATABASE = pytest.mark.pgsandbox(isolation="database")


async def _add(workspace_id: int, title: str) -> services.DocumentRecord:
    return await services.add_document(workspace_id, title, "html", f"<p>{title}</p>", title)


@pytest.mark.parametrize("n", cases(__file__, "documents_appended"))
async def test_documents_are_appended_and_listed_in_order(
    n: int, workspace: services.WorkspaceRecord
) -> None:
    """Each new document takes the next position; the list follows the positions."""
    titles = [f"Chapter {k}" for k in range(n % 4 + 2)]
    added = [await _add(workspace.id, title) for title in titles]
    assert [d.position for d in added] == list(range(len(titles)))
    listed = await services.list_documents(workspace.id)
    assert [(d.title, d.position) for d in listed] == [(t, k) for k, t in enumerate(titles)]
    stored = await services.get_document(added[-1].id)
    assert (stored.source_kind, stored.plain_text) == (SourceKind.HTML, titles[-1])


@pytest.mark.parametrize("n", cases(__file__, "documents_reorder"))
async def test_reorder_applies_the_new_order(n: int, workspace: services.WorkspaceRecord) -> None:
    """A rotation of the documents is stored as their new positions."""
    ids = [(await _add(workspace.id, title)).id for title in ("A", "B", "C")]
    shift = n % 3
    order = ids[shift:] + ids[:shift]
    reordered = await services.reorder_documents(workspace.id, order)
    assert [(d.id, d.position) for d in reordered] == [(i, k) for k, i in enumerate(order)]
    assert [d.id for d in await services.list_documents(workspace.id)] == order


@pytest.mark.parametrize("n", cases(__file__, "documents_bad_order"))
async def test_non_permutation_is_rejected_and_changes_nothing(
    n: int, workspace: services.WorkspaceRecord
) -> None:
    """Missing, foreign or repeated ids are refused; the order stays."""
    ids = [(await _add(workspace.id, title)).id for title in ("A", "B", "C")]
    bad = (ids[:2], [*ids, 987_654_321], [ids[0], ids[0], ids[1]])[n % 3]
    with pytest.raises(ValidationError, match="exactly once"):
        await services.reorder_documents(workspace.id, bad)
    assert [d.id for d in await services.list_documents(workspace.id)] == ids


@pytest.mark.parametrize("n", cases(__file__, "documents_delete"))
async def test_deleting_closes_the_gap(n: int, workspace: services.WorkspaceRecord) -> None:
    """The documents after a deleted one move up; the next one is appended at the end."""
    added = [await _add(workspace.id, title) for title in ("A", "B", "C")]
    gone = added.pop(n % 3)
    await services.delete_document(gone.id)
    listed = await services.list_documents(workspace.id)
    assert [(d.id, d.position) for d in listed] == [(d.id, k) for k, d in enumerate(added)]
    assert (await _add(workspace.id, "D")).position == 2
    with pytest.raises(NotFound, match="document"):
        await services.get_document(gone.id)


@DATABASE
@pytest.mark.parametrize("n", cases(__file__, "documents_concurrent_append"))
async def test_concurrent_appends_get_distinct_positions(
    n: int, workspace: services.WorkspaceRecord
) -> None:
    """Five documents added at once take turns on the workspace's lock: positions 0 to 4."""
    added = await asyncio.gather(*(_add(workspace.id, f"Part {n}.{k}") for k in range(5)))
    assert sorted(d.position for d in added) == [0, 1, 2, 3, 4]
    listed = await services.list_documents(workspace.id)
    assert [d.position for d in listed] == [0, 1, 2, 3, 4]
