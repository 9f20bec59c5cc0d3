"""The generator reproduces the committed sample corpus: same files, same ground truth, loadable."""

from pathlib import Path

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.corpus.synth import generate


def test_generator_reproduces_the_committed_sample(tmp_path, sample):
    out = generate(tmp_path / "sample")
    made = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in Path(sample).iterdir())
    assert made == committed
    for name in made:
        if name.endswith((".gt.txt", ".gt.md", ".jsonl")):
            assert (out / name).read_text(encoding="utf-8") == (sample / name).read_text(encoding="utf-8"), (
                name
            )
    corpus = Corpus.load(out, strict=True)
    assert len(corpus) == len(Corpus.load(sample))


def test_sample_is_small_enough_to_commit(sample):
    assert sum(f.stat().st_size for f in Path(sample).iterdir()) < 3_000_000
