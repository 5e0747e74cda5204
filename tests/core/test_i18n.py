from __future__ import annotations

from collections import defaultdict

from babel.messages.pofile import read_po

from yiwang.core.i18n import LOCALE_DIR


class TestCatalogues:
    def test_no_message_is_translated_two_ways(self):
        """The domains' catalogues are merged into one; a msgid translated differently in two of them
        would show whichever file loads last."""
        found: dict[str, dict[str, str]] = defaultdict(dict)
        for po in sorted((LOCALE_DIR / "zh_Hans_CN" / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as fh:
                for msg in read_po(fh):
                    if msg.id and msg.string:
                        found[str(msg.id)][po.name] = str(msg.string)
        clashes = {msgid: where for msgid, where in found.items() if len(set(where.values())) > 1}
        assert clashes == {}
