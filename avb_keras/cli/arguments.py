"""argparse for `avb-keras`: one-line mistakes, no prefix abbreviations, close options named.

Loads no TensorFlow, so that `--help` and a mistyped option answer at once.
"""

import argparse
import difflib


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with where to get help) and exit 2, an
    option is never taken for another it begins (`--lr` is not `--lr-schedule`), and an
    unknown option names the options it may have meant."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is reported by the command that was given,
        with the options it may have meant."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.command_parser(namespace)
            command.error(unknown_message(extras, option_strings(command)))
        return namespace

    def command_parser(self, namespace):
        """The parser of the command in `namespace` (this parser when it has none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(namespace, action.dest, None), self)
        return self


def option_strings(parser):
    """Every long and short option of `parser`, hidden ones left out."""
    return [option for action in parser._actions if action.help != argparse.SUPPRESS
            for option in action.option_strings]


def unknown_message(extras, options):
    """'unrecognized arguments: ...', with the options each unknown one may have meant."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    hints = [f"did you mean {' or '.join(close)} for {given}?"
             for given in extras if given.startswith("-")
             for close in [close_options(given.split("=")[0], options)] if close]
    return "; ".join([message, *hints])


def close_options(given, options):
    """The options `given` may have meant: near spellings (difflib), options it begins and
    options whose words it abbreviates (`--lr` for `--learning-rate`)."""
    initials = {"--" + "".join(w[0] for w in o[2:].split("-")): o for o in options
                if o.startswith("--")}
    found = [initials[given]] if given in initials else []
    found += [o for o in options if o.startswith(given) and given.startswith("--")]
    found += difflib.get_close_matches(given, options, n=3, cutoff=0.75)
    return list(dict.fromkeys(found))[:3]


def number(convert, accept, expected):
    """An argparse type: `convert(text)`, kept only when `accept(value)`."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value
    return parse


positive_int = number(int, lambda v: v >= 1, "a positive integer")
non_negative_int = number(int, lambda v: v >= 0, "a non-negative integer")
positive_float = number(float, lambda v: 0 < v < float("inf"), "a positive number")


class Replaced(argparse.Action):
    """An option that was renamed: giving it is a one-line error naming the new spelling."""

    def __init__(self, option_strings, dest, replacement, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was replaced by {self.replacement}")


def plural(count, noun):
    """'1 step', '10 steps'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
