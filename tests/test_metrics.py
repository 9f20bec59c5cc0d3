"""Normalisation profiles, CER/WER against jiwer's own figures, aggregates and the empty-reference rule."""

import math

import jiwer
import pytest

from lighton_lab.metrics import aggregate, normalize, score

NORMALIZE_CASES = [
    # (profile, text, expected)
    ("exact", "  **A**  ", "  **A**  "),
    ("plain", "ﬁne  ﬂour", "fine flour"),
    ("plain", "“quoted” ‘single’ «guillemets»", '"quoted" \'single\' "guillemets"'),
    ("plain", "a – b — c − d", "a - b - c - d"),
    ("plain", "  trailing  \n\n\n\nnext ", "trailing\n\nnext"),
    ("plain", "Straſſe", "Strasse"),
    ("plain", "co\u00adoperate", "cooperate"),
    ("markdown", "# Title", "Title"),
    ("markdown", "### Sub *title*", "Sub title"),
    ("markdown", "**bold** and __also__ and _it_", "bold and also and it"),
    ("markdown", "snake_case_name stays", "snake_case_name stays"),
    ("markdown", "- item\n* other\n1. first", "item\n\nother\n\nfirst"),  # three lists (markers differ)
    ("markdown", "see [the docs](http://x.y/z)", "see the docs"),
    ("markdown", "![image](image_1.png)Caption", "Caption"),
    ("markdown", "![text](112,640,882,698) Body", "Body"),
    ("markdown", "| a | b |\n|---|:--:|\n| 1 | 2 |", "a b\n1 2"),
    ("markdown", "<table><tr><th>A</th><th>B</th></tr><tr><td>1 &amp; 2</td><td>3</td></tr></table>", "A B\n1 & 2 3"),
    ("markdown", "Energy $E = mc^2$ and $$x$$", "Energy E = mc² and x"),
    ("markdown", "> quoted line", "quoted line"),
    ("markdown", "```\ncode\n```", "code"),
    ("markdown", "price \\$5 and 3 \\* 4", "price $5 and 3 * 4"),
]


@pytest.mark.parametrize("profile,text,expected", NORMALIZE_CASES)
def test_normalize(profile, text, expected):
    assert normalize(text, profile) == expected


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="exact, plain, markdown"):
        normalize("x", "fancy")


def test_done_when_examples():
    assert score("Total: 5", "**Total:** 5").cer == 0.0
    assert score("abc", "abd").cer == pytest.approx(1 / 3)


SCORE_CASES = [
    ("the quick brown fox", "the quick brown fox"),
    ("the quick brown fox", "the quikc brown"),
    ("one two three four five", "one too three for five six"),
    ("Déjà vu à Paris", "Deja vu a Paris"),
    ("line one\nline two", "line one line two extra"),
]


@pytest.mark.parametrize("reference,hypothesis", SCORE_CASES)
def test_score_agrees_with_jiwer(reference, hypothesis):
    s = score(reference, hypothesis, profile="exact")
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    words, chars = jiwer.process_words(ref, hyp), jiwer.process_characters(ref, hyp)
    assert s.wer == pytest.approx(words.wer)
    assert s.cer == pytest.approx(chars.cer)
    assert (s.word_hits, s.word_substitutions, s.word_deletions, s.word_insertions) == (
        words.hits, words.substitutions, words.deletions, words.insertions)
    assert (s.char_hits, s.char_substitutions, s.char_deletions, s.char_insertions) == (
        chars.hits, chars.substitutions, chars.deletions, chars.insertions)
    assert s.ned == pytest.approx(s.char_edits / max(len(ref), len(hyp)))
    assert 0.0 <= s.ned <= 1.0


def test_line_breaks_are_not_errors():
    assert score("a b\nc d", "a b c\nd").cer == 0.0


def test_order_independent_figure_sees_through_reading_order():
    ref = "Header line\n\nBody text here\n\n12"
    hyp = "12\n\nBody text here\n\nHeader line"
    s = score(ref, hyp)
    assert s.cer > 0.3
    assert s.bow_f1 == 1.0


@pytest.mark.parametrize("reference,hypothesis,cer,wer", [
    ("", "", 0.0, 0.0),
    ("", "anything", 1.0, 1.0),
    ("   \n", "", 0.0, 0.0),
    ("text", "", 1.0, 1.0),
])
def test_empty_sides_never_crash_or_nan(reference, hypothesis, cer, wer):
    s = score(reference, hypothesis)
    assert (s.cer, s.wer) == (cer, wer)
    assert not any(math.isnan(v) for v in (s.cer, s.wer, s.ned, s.bow_f1))


def test_none_reference_is_an_error():
    with pytest.raises(ValueError, match="ground truth"):
        score(None, "x")


def test_aggregate_micro_and_macro_differ_on_unequal_pages():
    long_page = score("a" * 1000, "a" * 990)  # 1% CER over 1000 chars
    short_page = score("abcd", "abxx")  # 50% CER over 4 chars
    agg = aggregate([long_page, short_page])
    assert agg.micro_cer == pytest.approx(12 / 1004)
    assert agg.macro_cer == pytest.approx((0.01 + 0.5) / 2)
    assert agg.micro_cer != pytest.approx(agg.macro_cer)
    assert agg.pages == 2


def test_aggregate_counts_insertions_of_empty_references():
    agg = aggregate([score("", "xyz"), score("abc", "abc")])
    assert agg.micro_cer == pytest.approx(3 / 3)


def test_aggregate_of_nothing_says_what_to_do():
    with pytest.raises(ValueError, match="ground truth"):
        aggregate([])
