"""Config text from HTTP: YAML caps (size, alias bombs, depth, one mapping document, plain values)
and the SerpApi key, which never gets into a config and never comes back in a refusal."""

from __future__ import annotations

import pytest

from autolit.serve.admission import AdmissionError, admit_fit, admit_search, parse_yaml_text, scrub
from tests.serve.admission_setup import digits, make_site

KEY = "sk-test-0123456789abcdef"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


def refusal(text: str, max_bytes: int = 100_000) -> AdmissionError:
    with pytest.raises(AdmissionError) as refused:
        parse_yaml_text(text, max_bytes=max_bytes, what="fit config")
    assert "\n" not in str(refused.value)
    assert refused.value.key == "fit config"
    return refused.value


def test_a_plain_mapping_parses_and_aliases_within_bounds_are_fine():
    assert parse_yaml_text("a: &x [1, 2]\nb: *x\nc: {d: null}\n", max_bytes=1000, what="fit config") == {
        "a": [1, 2], "b": [1, 2], "c": {"d": None}}


def test_a_billion_laughs_body_is_refused_before_it_is_built():
    assert len(LAUGHS) < 1000  # 10^9 strings once expanded
    assert "expands" in str(refusal(LAUGHS))


@pytest.mark.parametrize(("text", "line"), [
    ("a: &a [*a]\n", 1),                                    # a recursive anchor
    ("a: 1\n---\nb: 2\n", 3),                               # a second document
    ("- a\n- b\n", 1),                                      # not a mapping
    ("a: 1\n1: x\n", 2),                                    # a non-string key
    ("base: &b {x: 1}\nc:\n  <<: *b\n", 3),                 # a merge key
    ("a: 1\na: 2\n", 2),                                    # a repeated key
    ("a: 1\nb: .nan\n", 2), ("a: [1, -.inf]\n", 1), ("a: 1.0e+400\n", 1),
    ("a: 99999999999999999999\n", 1),                       # beyond 64 bits
    ("a: 2024-01-01\n", 1), ("a: !!binary aGk=\n", 1), ("a: !!set {x}\n", 1),
    ("a: !!python/object/apply:os.system [id]\n", 1),
    ("a: [1, 2\n", 2),                                      # malformed
    ("a: " + "[" * 80 + "]" * 80 + "\n", 1),                # too deep
    ("a: 1\nb: \x00\n", 2),                                 # a control character
])
def test_malformed_or_hostile_yaml_is_refused_naming_the_line(text, line):
    assert refusal(text).value == f"line {line}"


def test_an_oversized_body_is_refused_before_it_is_parsed():
    assert "larger than" in str(refusal("a: " + "x" * 2000 + "\n", max_bytes=1000))
    assert "larger than" in str(refusal("a: [" + "[" * 5000 + "]" * 5000 + "]\n", max_bytes=1000))


def test_an_empty_body_is_refused():
    assert "empty" in str(refusal("# only a comment\n"))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    return make_site(tmp_path)


@pytest.mark.parametrize("fragment", [
    {"data": {"source": {"scrape": {"queries": [f"ants {KEY}"], "per_query": 2}}}},
    {"trainer": {"logger": {"class_path": "CSVLogger", "init_args": {"save_dir": "logs", "name": KEY}}}},
    {"resolved": {KEY: 1}},
])
def test_the_servers_key_in_a_config_is_refused_without_being_echoed(site, fragment):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(**fragment), site.roots, job_dir=site.job)
    assert KEY not in str(refused.value) and KEY not in repr(refused.value.value) and KEY not in refused.value.key
    assert "SerpApi key" in str(refused.value)


@pytest.mark.parametrize("name", ["api_key", "serpapi_api_key", "SERP_API_KEY", "token", "client_secret"])
def test_a_credential_key_is_refused(site, name):
    with pytest.raises(AdmissionError) as refused:
        admit_fit(digits(data={"source": {"scrape": {"queries": ["ants"], "per_query": 2, name: "x"}}}),
                  site.roots, job_dir=site.job)
    assert refused.value.key == f"data.source.scrape.{name}"


def test_the_key_in_a_search_config_is_refused_too(site):
    search = {"fit_config": "fit.yaml", "overrides": {"data.source": {"scrape": {"queries": [KEY], "per_query": 1}}}}
    with pytest.raises(AdmissionError) as refused:
        admit_search(search, site.roots, job_dir=site.job, fit_config=digits())
    assert KEY not in str(refused.value)


def test_scrub_removes_the_servers_key_and_credential_parameters(site):
    text = f"GET https://serpapi.com/search?q=ants&api_key={KEY} failed; key was {KEY}"
    cleaned = scrub(text)
    assert KEY not in cleaned and "q=ants" in cleaned and "api_key=***" in cleaned


def test_scrub_without_a_key_set_still_masks_credential_parameters(monkeypatch):
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    assert scrub("x?api_key=abc&q=1") == "x?api_key=***&q=1"
