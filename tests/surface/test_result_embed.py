"""The public result embed echoes member text: it must not render as links, headings or other formatting."""

from __future__ import annotations

import re

from bot.surface import ui
from tests.surface.test_ui import make_job


def test_prompt_markdown_is_escaped_in_the_result_embed() -> None:
    prompt = "[free nitro](https://evil.example)\n# HUGE\n-# small\n> quote **bold** ||spoiler|| `code` ~~gone~~"
    embed = ui.result_embed(make_job(prompt=prompt), filename="f.png", took=None)
    text = embed.description or ""
    assert "\\[free nitro](https://evil.example)" in text
    assert "\n\\# HUGE" in text
    assert "\n\\-# small" in text
    assert "\\> quote" in text
    for mark in ("**", "||", "`", "~~"):
        assert mark not in text.replace("\\" + mark[0], "")


def test_source_links_cannot_be_turned_into_masked_links() -> None:
    hostile = "https://a.example/x)[free nitro](https://phish.example"
    text = ui.source_links(["https://discord.com/channels/1/2/3", hostile])
    # Exactly our two links, each with its whole target inside the parentheses.
    links = re.findall(r"\[([^\]]*)\]\(([^)]*)\)", text)
    assert [label for label, _ in links] == ["message 1", "image 2"]
    assert links[1][1] == "https://a.example/x%29%5Bfree%20nitro%5D%28https://phish.example"
    assert "](" not in text.replace("](https://discord.com", "").replace("](https://a.example", "")
