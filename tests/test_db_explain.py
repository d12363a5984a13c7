"""`flask db-explain`: the plans of a page's statements, and clear refusals."""

from tests.factories import TagFactory, TicketFactory, UserFactory


def test_explains_every_select_of_the_list_page(app, runner, backend):
    UserFactory(admin=True)
    tag = TagFactory()
    TicketFactory.create_batch(3, tags=[tag])
    result = runner.invoke(args=["db-explain", f"/tickets/?status=open&tag={tag.id}"])
    assert result.exit_code == 0, result.output
    assert (
        f"GET /tickets/?status=open&tag={tag.id}: 200, 4 SELECT statements" in result.output
    )  # with the sidebar
    assert result.output.count("-- statement ") == 4
    if backend == "postgresql":
        assert "actual time=" in result.output
        assert "Buffers:" in result.output or "Planning Time" in result.output
    else:
        assert "SCAN" in result.output or "SEARCH" in result.output


def test_explains_as_another_staff_member(app, runner):
    agent = UserFactory(email="viewer@example.com")
    ticket = TicketFactory()
    result = runner.invoke(args=["db-explain", f"/tickets/{ticket.number}", "--as", agent.email])
    assert result.exit_code == 0, result.output
    assert f"GET /tickets/{ticket.number}: 200" in result.output


def test_refusals_are_messages_with_a_failing_exit_status(app, runner):
    UserFactory(admin=True)
    cases = {
        "tickets": "Give the page as a path on this site",
        "/tickets/999999": "answered 404",
        "/nowhere": "answered 404",
    }
    for path, message in cases.items():
        result = runner.invoke(args=["db-explain", path])
        assert result.exit_code == 1, (path, result.output)
        assert message in result.output
    nobody = runner.invoke(args=["db-explain", "/tickets/", "--as", "ghost@example.com"])
    assert nobody.exit_code == 1
    assert "No active staff member ghost@example.com" in nobody.output
