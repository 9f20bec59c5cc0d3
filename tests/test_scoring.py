"""Scores of one page: normalizations, CER/WER against jiwer's own figures, aggregates and the empty-reference
rule; then the cases a researcher must be able to trust, each defect found against olmOCR's and
OmniDocBench's scoring with its expected behaviour; the peers' own measures reproduced to 1e-9; diff counts
are score counts."""

import json
import math
import random

import jiwer
import pytest
from conftest import ROOT, SAMPLE

from lighton_lab.client.loops import looped
from lighton_lab.errors import UsageError
from lighton_lab.scoring.diff import opcodes
from lighton_lab.scoring.peers import olmocr_ned, omnidocbench_ned
from lighton_lab.scoring.text import PLAIN_RULES, aggregate, normalize, score

NORMALIZE_CASES = [
    # (normalization, text, expected)
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
    ("markdown", "- item\n* other\n1. first", "- item\n\n* other\n\n1. first"),  # three lists, markers shown
    ("markdown", "see [the docs](http://x.y/z)", "see the docs"),
    ("markdown", "![image](image_1.png)Caption", "Caption"),
    ("markdown", "![text](112,640,882,698) Body", "Body"),
    ("markdown", "| a | b |\n|---|:--:|\n| 1 | 2 |", "a b\n1 2"),
    (
        "markdown",
        "<table><tr><th>A</th><th>B</th></tr><tr><td>1 &amp; 2</td><td>3</td></tr></table>",
        "A B\n1 & 2 3",
    ),
    ("markdown", "Energy $E = mc^2$ and $$x$$", "Energy E = mc² and x"),
    ("markdown", "> quoted line", "quoted line"),
    ("markdown", "```\ncode\n```", "code"),
    ("markdown", "price \\$5 and 3 \\* 4", "price $5 and 3 * 4"),
]


@pytest.mark.parametrize("normalization,text,expected", NORMALIZE_CASES)
def test_normalize(normalization, text, expected):
    assert normalize(text, normalization) == expected


def test_unknown_normalization_names_the_choices():
    with pytest.raises(UsageError, match="exact, plain, markdown"):
        normalize("x", "fancy")


def test_profile_is_the_deprecated_spelling_of_normalization():
    with pytest.warns(DeprecationWarning, match="normalization="):
        old = score("Total: 5", "**Total:** 5", profile="exact")
    assert old == score("Total: 5", "**Total:** 5", normalization="exact") and old.cer > 0


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
    s = score(reference, hypothesis, normalization="exact")
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    words, chars = jiwer.process_words(ref, hyp), jiwer.process_characters(ref, hyp)
    assert s.wer == pytest.approx(words.wer)
    assert s.cer == pytest.approx(chars.cer)
    assert (s.word_hits, s.word_substitutions, s.word_deletions, s.word_insertions) == (
        words.hits,
        words.substitutions,
        words.deletions,
        words.insertions,
    )
    assert (s.char_hits, s.char_substitutions, s.char_deletions, s.char_insertions) == (
        chars.hits,
        chars.substitutions,
        chars.deletions,
        chars.insertions,
    )
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


@pytest.mark.parametrize(
    "reference,hypothesis,cer,wer",
    [
        ("", "", 0.0, 0.0),
        ("", "anything", 1.0, 1.0),
        ("   \n", "", 0.0, 0.0),
        ("text", "", 1.0, 1.0),
    ],
)
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


ANGLES = [
    "Rule: a<b holds for all pairs.\nThe quick brown fox jumps over the lazy dog.\nThe arrow -> points right.",
    "Reject if x<y and y>z holds.",
    "If a<b and c>d then 3 < 4 > 2, <y and y>.",
]


@pytest.mark.parametrize("text", ANGLES)
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_angle_brackets_keep_every_character(text, fmt):
    assert " ".join(normalize(text, format=fmt).split()) == " ".join(text.split())


def test_five_typos_after_a_less_than_sign_are_counted():
    reference = ANGLES[0]
    typos = (
        reference.replace("quick", "quikc")
        .replace("brown", "brwon")
        .replace("jumps", "jmups")
        .replace("over", "ovre")
        .replace("lazy", "lzay")
    )
    for fmt in ("text", "markdown"):
        assert score(reference, typos, reference_format="text", hypothesis_format=fmt).char_edits == 10


def test_where_a_plain_reference_wraps_changes_nothing():
    output = "The board meets on 12. March at noon."
    wrapped = score("The board meets on\n12. March at noon.", output, reference_format="text")
    unwrapped = score("The board meets on 12. March at noon.", output, reference_format="text")
    assert wrapped.cer == unwrapped.cer == 0.0
    for start in ("# Heading", "> quoted", "+ plus", "- minus", "1) one"):
        assert (
            normalize(f"x\n{start}", format="text") == f"x\n{start}"
        )  # plain text is never Markdown-stripped


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_dropped_dollar_sign_is_an_error(fmt):
    assert score("It costs $12.50 today.", "It costs 12.50 today.", hypothesis_format=fmt).char_edits == 1
    assert score("It costs $12.50 and $3.", "It costs $12.50 and $3.", hypothesis_format=fmt).cer == 0.0


def test_escaped_brackets_keep_their_brackets():
    assert normalize(r"See \[12\] and \(x\).") == "See [12] and x."


@pytest.mark.parametrize("reference,output", [("m²", "m2"), ("H₂O", "H2O"), ("½ cup", "1/2 cup")])
def test_superscripts_and_fractions_are_kept_by_plain(reference, output):
    assert score(reference, output, normalization="plain").char_edits > 0


def test_plain_rules_are_one_documented_table():
    assert all(len(rule) == 3 for rule in PLAIN_RULES)
    assert normalize("ﬁne ſtreet “q” a – b\u00a0c ＡＢ …", "plain") == 'fine street "q" a - b c AB ...'


def test_latex_and_unicode_spellings_of_the_report_formula_score_alike():
    truth = (SAMPLE / "report.gt.txt").read_text().split("\f")[2]
    latex = (
        truth.replace("Results and a formula", "## Results and a formula")
        .replace("CER = (S + D + I) / N", "$$\\mathrm{CER} = \\frac{S + D + I}{N}$$")
        .replace("A = πr²", "$A = \\pi r^2$")
        .replace("x = (−b ± √(b² − 4ac)) / 2a", "$x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}$")
    )
    assert latex != truth
    assert abs(score(truth, latex).cer - score(truth, truth).cer) < 0.01


def test_bag_of_words_folds_case_and_punctuation():
    s = score("Hello, World! It's fine.", "hello world its fine")
    assert s.bow_f1 == 1.0 and s.bow_f1_exact < 1.0


def test_dehyphenation_is_optional_and_on_both_sides():
    reference, output = "an exam-\nple of it", "an example of it"
    assert score(reference, output).cer > 0
    assert score(reference, output, dehyphenate=True).cer == 0.0


def test_a_loop_is_flagged_and_ned_stays_bounded():
    reference = "Item 1\nItem 2\nTotal 3"
    output = "Item 1\nItem 2\n" + "Total 3\n" * 200
    s = score(reference, output)
    assert looped(output) and not looped(reference)
    assert s.cer > 10 and 0 < s.ned <= 1
    assert looped("the " * 300) and not looped("| a | b |\n" * 7)


PEER_CASES = json.loads((ROOT / "tests" / "fixtures" / "peer_ned_cases.json").read_text())["cases"]


def test_peer_measures_equal_the_values_their_code_gave():
    """Expected values computed by running the released olmocr 0.4.27's normalize_text and OmniDocBench's
    clean_string(textblock2unicode(...)) (tests/fixtures/peer_ned_cases.json says how)."""
    assert len(PEER_CASES) >= 60
    for case in PEER_CASES:
        assert olmocr_ned(case["reference"], case["hypothesis"]) == pytest.approx(
            case["olmocr_ned"], abs=1e-9
        ), case
        if case["omnidocbench_ned"] is not None:
            assert omnidocbench_ned(case["reference"], case["hypothesis"]) == pytest.approx(
                case["omnidocbench_ned"], abs=1e-9
            ), case


def test_olmocr_ned_is_the_released_package_normaliser():
    """Run olmocr 0.4.27 itself (the olmocr extra, in dev) on every case and on random pairs."""
    tests = pytest.importorskip("olmocr.bench.tests", reason="the olmocr extra is not installed")
    from importlib.metadata import version

    from rapidfuzz.distance import Levenshtein

    from lighton_lab.scoring.peers import olmocr_normalize

    assert version("olmocr") == "0.4.27"
    rng = random.Random(11)
    pairs = [(c["reference"], c["hypothesis"]) for c in PEER_CASES] + [_random_pair(rng) for _ in range(300)]
    for reference, hypothesis in pairs:
        assert olmocr_normalize(reference) == tests.normalize_text(reference)
        a, b = tests.normalize_text(reference), tests.normalize_text(hypothesis)
        expected = Levenshtein.distance(a, b) / max(len(a), len(b)) if (a or b) else 0.0
        assert olmocr_ned(reference, hypothesis) == pytest.approx(expected, abs=1e-12)


def _random_pair(rng: random.Random) -> tuple[str, str]:
    alphabet = "abcdeéfgh ijk,.;:!?-'\"0123456789 \n*#|<>$_"
    reference = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
    output = list(reference)
    for _ in range(rng.randint(0, 20)):
        i = rng.randint(0, len(output))
        action = rng.choice("sdi")
        if action == "i" or not output:
            output.insert(i, rng.choice(alphabet))
        elif action == "d":
            output.pop(min(i, len(output) - 1))
        else:
            output[min(i, len(output) - 1)] = rng.choice(alphabet)
    return reference, "".join(output)


def test_the_diff_counts_what_the_score_counts():
    rng = random.Random(300)
    for _ in range(300):
        reference, output = _random_pair(rng)
        fmt = rng.choice(["text", "markdown"])
        s = score(reference, output, hypothesis_format=fmt)
        parts = opcodes(reference, output, hypothesis_format=fmt)
        edits = sum(max(len(r), len(h)) for tag, r, h in parts if tag != "equal")
        deleted = sum(len(r) for tag, r, h in parts if tag == "delete")
        inserted = sum(len(h) for tag, r, h in parts if tag == "insert")
        substituted = sum(len(r) for tag, r, h in parts if tag == "replace")
        assert (substituted, deleted, inserted) == (s.char_substitutions, s.char_deletions, s.char_insertions)
        assert edits == s.char_edits


# Each defect found by the independent check of the scores, as a case: the reference (plain text) and an
# output (Markdown) that shows the same thing, which must score CER 0.
SAME_VISIBLE_TEXT = [
    ("math at the start of a paragraph ending in a digit", "α = 0.05", "$\\alpha$ = 0.05"),
    ("two formulas and a digit at the end", "x² + y² = 25", "$x^2$ + $y^2$ = 25"),
    ("math, then prose with a number", "x is 5", "$x$ is 5"),
    ("a relation typed without spaces", "a + b ≤ c", "$a+b\\leq c$"),
    ("Greek letters with spaces typed", "α + β ≤ γ", "$\\alpha + \\beta \\leq \\gamma$"),
    ("a sign is not an operator", "x = -1", "$x=-1$"),
    ("a comma in math", "f(x, y)", "$f(x,y)$"),
    ("a compound fraction", "CER = (S + D + I) / N", "$\\mathrm{CER}=\\frac{S+D+I}{N}$"),
    ("an ordered list number", "12. March 2024 the council met.", "12. March 2024 the council met."),
    ("a list with parentheses", "1) first item\n2) second item", "1) first item\n2) second item"),
    ("a bullet list", "- milk\n- bread", "- milk\n- bread"),
    ("a Markdown fence", "The quick brown fox", "```markdown\n**The quick** brown fox\n```"),
    ("an md fence", "Total: 12", "```md\n# Total: 12\n```"),
    ("an HTML superscript", "m²", "m<sup>2</sup>"),
    ("an HTML subscript", "H₂O", "H<sub>2</sub>O"),
    ("a superscript in an HTML table", "area m²", "<table><tr><td>area m<sup>2</sup></td></tr></table>"),
    ("an escaped entity in an HTML cell", "a &lt; b", "<table><tr><td>a &amp;lt; b</td></tr></table>"),
    ("a letter superscript", "x^ab", "x<sup>ab</sup>"),
]


@pytest.mark.parametrize("name,reference,output", SAME_VISIBLE_TEXT, ids=[c[0] for c in SAME_VISIBLE_TEXT])
def test_the_same_visible_text_scores_zero(name, reference, output):
    assert score(reference, output, reference_format="text", hypothesis_format="markdown").cer == 0.0


def test_sup_and_sub_read_as_latex_does():
    assert normalize("m<sup>2</sup> and H<sub>2</sub>O") == normalize("$m^2$ and $H_2$O")


@pytest.mark.parametrize(
    "unicode,tokens",
    [
        ("α + β ≤ γ", ["\\alpha", "+", "\\beta", "\\leq", "\\gamma"]),
        ("E = mc²", ["E", "=", "m", "c^2"]),
        ("x = (-b ± √(b² - 4ac)) / 2a", ["x", "=", "\\frac{-b", "\\pm", "\\sqrt{b^2", "-", "4ac}}{2a}"]),
        ("a × b ≠ c", ["a", "\\times", "b", "\\neq", "c"]),
    ],
)
def test_a_formula_scores_alike_however_it_was_spaced(unicode, tokens):
    """TeX ignores the spaces typed in math: every spacing of the LaTeX reads as the Unicode formula does."""
    rng = random.Random(7)
    for _ in range(20):
        # any spacing between tokens; a control word keeps a space before a letter (else it names another word)
        gaps = [[1, 1, 2] if "\\" in t and t[-1].isalpha() else [0, 0, 1, 2] for t in tokens]
        spaced = "".join(t + " " * rng.choice(g) for t, g in zip(tokens, gaps)).strip()
        latex = f"${spaced}$"
        assert score(unicode, latex).cer < 0.05, latex


def test_prices_stay_prose_and_a_dropped_dollar_still_counts():
    assert normalize("It costs $12.50 and $3.") == "It costs $12.50 and $3."
    assert normalize("$5 or $10") == "$5 or $10"
    assert score("Pay $12.50 now.", "Pay 12.50 now.").char_edits == 1
