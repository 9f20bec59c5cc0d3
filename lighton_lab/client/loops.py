"""Repetition loops, the known failure of OCR models (vLLM #28617, #33068; DeepSeek-OCR #250): detected on a
whole answer for the scores, and on a stream as it arrives, so the client can close it and stop paying.

Two rules, both on the raw text: a non-empty line repeated ``LINE_REPEATS`` times in a row (the model
re-emitting a table row or a line), or a tail that is one unit of at most ``MAX_PERIOD`` characters repeated
at least ``LINE_REPEATS`` times over at least ``MIN_CHARS`` characters (``the the the ...`` until the
budget runs out). This is the repeated-n-gram criterion of degeneration studies (Holtzman et al. 2020, "The
Curious Case of Neural Text Degeneration"), stated in characters so it needs no tokenizer; a legitimately
repetitive page (a form with 7 identical empty rows) stays under it.
"""

from __future__ import annotations

LINE_REPEATS = 8  # the same non-empty line this many times in a row...
MIN_CHARS = 200  # ...or the text ending in one unit repeated over at least this many characters
MAX_PERIOD = 400  # and at least LINE_REPEATS times (a unit of up to this many characters)
CHECK_EVERY = 64  # a stream's tail is checked again after this many new characters


def looped(text: str | None) -> bool:
    """True when the answer degenerated into a repetition loop (see the module docstring).

    >>> looped("Total\\n" * 200), looped("a normal page\\nwith two lines")
    (True, False)
    """
    detector = LoopDetector()
    return bool(text) and (detector.feed(text) or detector.tail_loops())


class LoopDetector:
    """The same rules on a stream: ``feed`` each piece as it arrives; True once the answer loops.

    Lines are compared as they complete, the tail every ``CHECK_EVERY`` characters, so a 16,000-token
    loop costs a few milliseconds, not a check per token over the whole text.
    """

    def __init__(self) -> None:
        self.text = ""
        self._line_start = 0
        self._previous: str | None = None
        self._run = 0
        self._checked = 0

    def feed(self, piece: str) -> bool:
        start = len(self.text)
        self.text += piece
        newline = self.text.find("\n", max(start, self._line_start))
        while newline >= 0:
            line = self.text[self._line_start : newline].strip()
            self._run = self._run + 1 if line and line == self._previous else 1
            self._previous = line
            self._line_start = newline + 1
            if line and self._run >= LINE_REPEATS:
                return True
            newline = self.text.find("\n", self._line_start)
        if len(self.text) - self._checked >= CHECK_EVERY:
            self._checked = len(self.text)
            return self.tail_loops()
        return False

    def tail_loops(self) -> bool:
        """The last line (not yet ended by a newline) completes a run, or the tail is one unit repeated."""
        last = self.text[self._line_start :].strip()
        if last and last == self._previous and self._run + 1 >= LINE_REPEATS:
            return True
        tail = self.text.rstrip()[-MAX_PERIOD * LINE_REPEATS :]
        for period in range(1, min(MAX_PERIOD, len(tail) // LINE_REPEATS) + 1):
            span = max(MIN_CHARS, period * LINE_REPEATS)
            if span > len(tail):
                break
            end = tail[-span:]
            if end[:-period] == end[period:]:
                return True
        return False
