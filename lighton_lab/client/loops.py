"""Repetition loops, the known failure of OCR models (vLLM #28617, #33068; DeepSeek-OCR #250): detected on a
whole answer for the scores, and on a stream as it arrives, so the client can close it and stop paying.

Two rules, both on the raw text: a non-empty line repeated ``LINE_REPEATS`` times in a row (the model
re-emitting a table row or a line), or a tail that is one unit of at most ``MAX_PERIOD`` characters repeated
at least ``LINE_REPEATS`` times over at least ``MIN_CHARS`` characters (``the the the ...`` until the
budget runs out). This is the repeated-n-gram criterion of degeneration studies (Holtzman et al. 2020, "The
Curious Case of Neural Text Degeneration"), stated in characters so it needs no tokenizer.

Pages repeat themselves legitimately: a blank form or ledger has a dozen identical empty rows (``| | | |``,
``<td></td>`` after ``<td></td>``). A line or unit without a letter or a digit must therefore repeat much
longer before it counts (``BLANK_REPEATS`` lines, ``BLANK_CHARS`` characters: a loop of empty cells runs to
the budget and is still cut within about a thousand tokens), and a line with words ``LINE_REPEATS`` times.
"""

from __future__ import annotations

LINE_REPEATS = 12  # the same line with words this many times in a row...
MIN_CHARS = 200  # ...or the text ending in one unit repeated over at least this many characters
MAX_PERIOD = 400  # and at least LINE_REPEATS times (a unit of up to this many characters)
BLANK_REPEATS = 64  # a line without letters or digits (an empty table row): this many times
BLANK_CHARS = 4000  # a unit without letters or digits (empty cells): over this many characters
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
            if line and self._run >= _repeats(line):
                return True
            newline = self.text.find("\n", self._line_start)
        if len(self.text) - self._checked >= CHECK_EVERY:
            self._checked = len(self.text)
            return self.tail_loops()
        return False

    def tail_loops(self) -> bool:
        """The last line (not yet ended by a newline) completes a run, or the tail is one unit repeated."""
        last = self.text[self._line_start :].strip()
        if last and last == self._previous and self._run + 1 >= _repeats(last):
            return True
        tail = self.text.rstrip()[-max(MAX_PERIOD * LINE_REPEATS, BLANK_CHARS) :]
        for period in range(1, min(MAX_PERIOD, len(tail) // LINE_REPEATS) + 1):
            span = max(MIN_CHARS, period * LINE_REPEATS)
            if span > len(tail):
                break
            end = tail[-span:]
            if end[:-period] == end[period:]:
                unit = end[-period:]
                if any(c.isalnum() for c in unit) or (
                    len(tail) >= BLANK_CHARS and _repeats_over(tail, period)
                ):
                    return True
        return False


def _repeats(line: str) -> int:
    """How many times in a row a line must come to be a loop: more for a line without words."""
    return LINE_REPEATS if any(c.isalnum() for c in line) else BLANK_REPEATS


def _repeats_over(tail: str, period: int) -> bool:
    """The last ``BLANK_CHARS`` characters are one unit of ``period`` characters repeated."""
    end = tail[-BLANK_CHARS:]
    return end[:-period] == end[period:]
