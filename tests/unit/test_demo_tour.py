"""`make demo` ends by telling an officer where to look in the Atlas UI: links that open the model, its
lineage and tags, the release decision, and the saved searches by name."""

from __future__ import annotations

from atlas_mlplugin.demo.__main__ import UiTour, where_to_look

TOUR = UiTour(url="http://127.0.0.1:21000", user="admin", password="pw", model_name="scene-intent",
              model_guid="m-guid", release_name="scene-intent: public commercial", release_guid="r-guid",
              searches=["ML governance: models blocked for public release"], propagated_tag="NonCommercial",
              propagated_from="street-scenes")


def test_the_closing_words_link_every_place_an_officer_looks() -> None:
    text = "\n".join(where_to_look(TOUR))
    assert "http://127.0.0.1:21000/index.html" in text and "admin" in text and "pw" in text
    assert "http://127.0.0.1:21000/index.html#!/detailPage/m-guid\n" in text + "\n"
    assert "#!/detailPage/m-guid?tabActive=lineage" in text
    assert "#!/detailPage/m-guid?tabActive=classification" in text
    assert "scene-intent: public commercial: http://127.0.0.1:21000/index.html#!/detailPage/r-guid" in text
    assert "Favorite searches" in text and "- ML governance: models blocked for public release" in text
    assert "'Propagated From' beside NonCommercial (from street-scenes)" in text


def test_what_was_not_built_is_not_promised() -> None:
    bare = UiTour(url="http://h:1", user="u", password="p", model_name="m", model_guid="g", release_name=None,
                  release_guid=None, searches=[], propagated_tag=None, propagated_from=None)
    text = "\n".join(where_to_look(bare))
    assert "release decision" not in text and "Favorite searches" not in text and "Propagated From" not in text
