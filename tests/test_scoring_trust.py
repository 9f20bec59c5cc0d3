"""Scores a researcher can trust: each defect found against olmOCR's and OmniDocBench's scoring is a case
here with its expected behaviour; the peers' own measures are reproduced to 1e-9; diff counts are score counts."""

import json
import random

import pytest

from conftest import ROOT, SAMPLE
from lighton_lab.diff import opcodes
from lighton_lab.metrics import PLAIN_RULES, looped, normalize, score
from lighton_lab.peers import olmocr_ned, omnidocbench_ned

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
    typos = reference.replace("quick", "quikc").replace("brown", "brwon").replace("jumps", "jmups") \
        .replace("over", "ovre").replace("lazy", "lzay")
    for fmt in ("text", "markdown"):
        assert score(reference, typos, reference_format="text", hypothesis_format=fmt).char_edits == 10


def test_where_a_plain_reference_wraps_changes_nothing():
    output = "The board meets on 12. March at noon."
    wrapped = score("The board meets on\n12. March at noon.", output, reference_format="text")
    unwrapped = score("The board meets on 12. March at noon.", output, reference_format="text")
    assert wrapped.cer == unwrapped.cer == 0.0
    for start in ("# Heading", "> quoted", "+ plus", "- minus", "1) one"):
        assert normalize(f"x\n{start}", format="text") == f"x\n{start}"  # plain text is never Markdown-stripped


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_dropped_dollar_sign_is_an_error(fmt):
    assert score("It costs $12.50 today.", "It costs 12.50 today.", hypothesis_format=fmt).char_edits == 1
    assert score("It costs $12.50 and $3.", "It costs $12.50 and $3.", hypothesis_format=fmt).cer == 0.0


def test_escaped_brackets_keep_their_brackets():
    assert normalize(r"See \[12\] and \(x\).") == "See [12] and x."


@pytest.mark.parametrize("reference,output", [("m²", "m2"), ("H₂O", "H2O"), ("½ cup", "1/2 cup")])
def test_superscripts_and_fractions_are_kept_by_plain(reference, output):
    assert score(reference, output, profile="plain").char_edits > 0


def test_plain_rules_are_one_documented_table():
    assert all(len(rule) == 3 for rule in PLAIN_RULES)
    assert normalize("ﬁne ſtreet “q” a – b\u00a0c ＡＢ …", "plain") == 'fine street "q" a - b c AB ...'


def test_latex_and_unicode_spellings_of_the_report_formula_score_alike():
    truth = (SAMPLE / "report.gt.txt").read_text().split("\f")[2]
    latex = (truth.replace("Results and a formula", "## Results and a formula")
             .replace("CER = (S + D + I) / N", "$$\\mathrm{CER} = \\frac{S + D + I}{N}$$")
             .replace("A = πr²", "$A = \\pi r^2$")
             .replace("x = (−b ± √(b² − 4ac)) / 2a", "$x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}$"))
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


def test_peer_measures_equal_the_peers_own_code():
    """Expected values computed by running olmocr 0.4.27's normalize_text and OmniDocBench's
    clean_string(textblock2unicode(...)) with python-Levenshtein (tests/fixtures/peer_ned_cases.json)."""
    table = json.loads((ROOT / "tests" / "fixtures" / "peer_ned_cases.json").read_text())["cases"]
    assert len(table) >= 20
    for case in table:
        assert olmocr_ned(case["reference"], case["hypothesis"]) == pytest.approx(case["olmocr_ned"], abs=1e-9), case
        assert omnidocbench_ned(case["reference"], case["hypothesis"]) == pytest.approx(
            case["omnidocbench_ned"], abs=1e-9), case


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
