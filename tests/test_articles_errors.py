"""Parse errors a person can act on: where the mistake is, and how to fix it (issue 20, 9)."""

from __future__ import annotations

from tests.conftest import Env

BODY = "Twenty trucks crossed on Monday, officials said.\n\nMore were expected.\n"


def test_a_raw_tab_in_a_json_string_names_its_place_once_and_the_fix(env: Env) -> None:
    path = env.drop("tab.json", '{"title": "Aid convoy", "body": "Twenty trucks\tcrossed."}\n')
    [report] = env.explain(path)
    assert report["error"] == (
        "not valid JSON: Invalid control character at line 1 column 47 "
        r"(a tab or line break inside a string: write it as \t or \n)")


def test_other_json_errors_keep_their_place(env: Env) -> None:
    path = env.drop("comma.json", '{"title": "Aid convoy",\n "body": "Trucks crossed.",\n}\n')
    [report] = env.explain(path)
    assert report["error"] == ("not valid JSON: Expecting property name enclosed in double "
                               "quotes at line 3 column 1")


def test_an_unquoted_colon_in_yaml_front_matter_gives_the_file_line_and_the_quoted_value(
        env: Env) -> None:
    path = env.drop("colon.md", "---\nauthor: Dana Levi\ntitle: Analysis: what the truce means"
                                "\n---\n" + BODY)
    [report] = env.explain(path)
    assert report["error"] == (
        "front matter is not valid YAML: mapping values are not allowed here on line 3; "
        'quote the value: title: "Analysis: what the truce means"')


def test_the_quoted_value_escapes_its_own_quotes(env: Env) -> None:
    path = env.drop("quotes.md", '---\ntitle: Analysis: the "truce" holds\n---\n' + BODY)
    [report] = env.explain(path)
    assert report["error"].endswith(r'quote the value: title: "Analysis: the \"truce\" holds"')


def test_quoting_the_value_as_told_parses(env: Env) -> None:
    path = env.drop("fixed.md", '---\ntitle: "Analysis: what the truce means"\n---\n' + BODY)
    [report] = env.explain(path)
    assert report["error"] is None
    assert report["articles"][0]["title"] == "Analysis: what the truce means"


def test_toml_front_matter_errors_count_lines_in_the_file(env: Env) -> None:
    path = env.drop("bad.md", '+++\ntitle = "Aid convoy"\nauthor = Dana Levi\n+++\n' + BODY)
    [report] = env.explain(path)
    assert report["error"] == "front matter is not valid TOML: Invalid value (at line 3, column 10)"
