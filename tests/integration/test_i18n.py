"""Chinese by default, English complete: the language switch and the catalogue's coverage."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.helpers import CJK, post_form, visible_text
from tracker.models import Role

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "tracker" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def test_chief_page_is_chinese_by_default(chief_client):
    text = visible_text(chief_client.get("/", follow_redirects=True))
    assert "首页" in text and "修改密码" in text and "退出登录" in text


def test_accept_language_english_gives_english(client):
    text = visible_text(client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert "Sign in" in text and not CJK.search(text.replace("中文", ""))


def test_switching_to_english_leaves_no_chinese_on_the_page(chief_client, bureau, db_session):
    chief = bureau.user(Role.CHIEF)
    response = post_form(
        chief_client, "/language", {"locale": "en", "next": "/"}, form_url="/items/"
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    text = visible_text(chief_client.get("/", follow_redirects=True))
    # Data stays as entered (people's names, in the checklist's assignee filter too); the button
    # back to Chinese is meant to be Chinese.
    for user in bureau.users.values():
        text = text.replace(user.name, "")
    leftover = text.replace("中文", "")
    assert not CJK.search(leftover), CJK.findall(leftover)
    assert "My checklist" in text and "Sign out" in text
    db_session.expire_all()
    assert chief.locale == "en"  # remembered for the next visit


def test_every_admin_page_is_fully_english(admin_client, bureau, db_session):
    admin = bureau.user(Role.ADMIN)
    admin.locale = "en"
    db_session.commit()
    for url in [
        "/",
        "/admin/units",
        "/admin/users",
        "/admin/units/new",
        "/admin/users/new",
        "/account/password",
        "/admin/no-such-page",
    ]:
        text = visible_text(admin_client.get(url))
        # Unit and user names are data in Chinese; labels and messages must all be English.
        for user in bureau.users.values():
            text = text.replace(user.name, "")
        for unit in (bureau.root, bureau.legal, bureau.section, bureau.station):
            text = text.replace(unit.name, "")
        leftover = text.replace("中文", "")
        assert not CJK.search(leftover), (url, CJK.findall(leftover))


def _source_messages() -> set[str]:
    method_map = [("tracker/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        ROOT, method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_chinese_catalogue_covers_every_message():
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]  # a plural entry is named by its singular
        for m in catalogue
        if m.id and m.string and all(m.string) and "fuzzy" not in m.flags
    }
    missing = sorted(_source_messages() - translated)
    assert not missing, f"untranslated (run `make extract-messages` and translate): {missing}"
