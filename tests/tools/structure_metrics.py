# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's structure numbers, held to a ratchet (`make lint` runs it).

    structure_metrics.py [--root DIR] [--limits FILE] [--update]

Prints five numbers of the checkout, each beside the limit recorded in tests/tools/structure_limits.json and the
issue's target, and the items behind the ones that count items:

  task_lines         lines of roles/hf_offline_cache/tasks/*.yml
  template_markers   occurrences of `{{` and `{%` in roles/*/tasks/**/*.yml and roles/*/vars/**/*.yml
  private_reads      a role's private variable (`__<role>_...`) named in another role's directory or in playbooks/
  duplicate_blocks   pairs of blocks of six or more lines that repeat, the same or the same shape (identifiers,
                     strings and numbers as placeholders), in plugins/**/*.py and roles/**/*.yml
  long_python_files  Python files of plugins/ over 600 lines (plugins/module_utils/_torch_checks.py excepted)

Exit status 1 when a number is over its recorded limit (the message names it), else 0. --update lowers each
recorded limit to the current number and never raises one: the limits only ever move towards the targets.
"""

from __future__ import absolute_import, division, print_function

import argparse
import io
import json
import keyword
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Path(__file__).resolve().parent / 'structure_limits.json'

TARGETS = {
    'task_lines': 300,
    'template_markers': 200,
    'private_reads': 0,
    'duplicate_blocks': 0,
    'long_python_files': 0,
}
ORDER = ['task_lines', 'template_markers', 'private_reads', 'duplicate_blocks', 'long_python_files']

TASK_LINES_ROLE = 'hf_offline_cache'
LONG_FILE_LINES = 600
LONG_FILE_EXCEPTIONS = {'plugins/module_utils/_torch_checks.py'}

# Duplicated blocks: a window is WINDOW consecutive lines that count (see normalise_*); it is reported only when at
# least MIN_NONTRIVIAL of them are non-trivial (NONTRIVIAL_TOKENS tokens or more: `name: S` or `return N` carry no
# logic of their own) and it holds MIN_DISTINCT different lines (six `N: S` in a row are a list, not copied logic).
# YAML needs one token more than Python: `path: "{{ N }}"` (5) is a plain reference, `if N is None :` (5) a decision.
WINDOW = 6
NONTRIVIAL_TOKENS = {'python': 5, 'yaml': 6}
MIN_NONTRIVIAL = 3
MIN_DISTINCT = 3
DOC_ASSIGNMENTS = {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}
JINJA_WORDS = {'if', 'else', 'elif', 'endif', 'for', 'endfor', 'in', 'not', 'and', 'or', 'is', 'true', 'false',
               'none', 'True', 'False', 'None', 'set', 'endset', 'block', 'endblock', 'macro', 'endmacro'}
# values that Ansible evaluates as Jinja expressions without braces
EXPRESSION_KEYS = {'when', 'changed_when', 'failed_when', 'until', 'that'}


def rel(path, root):
    return path.relative_to(root).as_posix()


def read_lines(path):
    return path.read_text(encoding='utf-8', errors='replace').splitlines()


# ---------------------------------------------------------------- a, b, e: counts of lines and markers
def task_lines(root):
    """Total lines of roles/hf_offline_cache/tasks/*.yml."""
    return sum(len(read_lines(p)) for p in sorted((root / 'roles' / TASK_LINES_ROLE / 'tasks').glob('*.yml')))


def template_files(root):
    found = set()
    for part in ('tasks', 'vars'):
        found.update(p for p in (root / 'roles').glob('*/%s/**/*.yml' % part) if p.is_file())
    return sorted(found)


def template_markers(root):
    """Occurrences of `{{` and `{%` in the roles' tasks and vars."""
    total = 0
    for path in template_files(root):
        text = path.read_text(encoding='utf-8', errors='replace')
        total += text.count('{{') + text.count('{%')
    return total


def long_python_files(root):
    """[(path, lines)] of the Python files of plugins/ over LONG_FILE_LINES lines."""
    found = []
    for path in sorted((root / 'plugins').rglob('*.py')):
        name = rel(path, root)
        count = len(read_lines(path))
        if count > LONG_FILE_LINES and name not in LONG_FILE_EXCEPTIONS:
            found.append((name, count))
    return found


# ---------------------------------------------------------------- c: private variables read from elsewhere
def role_names(root):
    base = root / 'roles'
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def private_reads(root):
    """[(file, line, identifier, owning role)]: `__<role>_...` in another role's directory or in playbooks/."""
    roles = role_names(root)
    if not roles:
        return []
    # longest first: __offline_venv_extra_x belongs to a role offline_venv_extra, if there is one
    names = '|'.join(re.escape(r) for r in sorted(roles, key=len, reverse=True))
    pattern = re.compile(r'(?<![A-Za-z0-9_])__(%s)_[A-Za-z0-9_]+' % names)
    places = [(root / 'roles' / r, r) for r in roles] + [(root / 'playbooks', None)]
    found = []
    for base, here in places:
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob('*') if p.is_file()):
            try:
                lines = path.read_text(encoding='utf-8').splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(lines, 1):
                for match in pattern.finditer(line):
                    if match.group(1) != here:
                        found.append((rel(path, root), number, match.group(0), match.group(1)))
    return found


# ---------------------------------------------------------------- d: duplicated blocks
def _python_token(tok):
    if tok.type == tokenize.NAME:
        return tok.string if keyword.iskeyword(tok.string) else 'N'
    if tok.type == tokenize.STRING:
        return 'S'
    if tok.type == tokenize.NUMBER:
        return '0'
    return tok.string


def _skipped_statement(tokens):
    """Boilerplate statements: imports, `__metaclass__ = type`, DOCUMENTATION/EXAMPLES/RETURN = '''...'''."""
    words = [t.string for t in tokens[:3]]
    if words[:1] in (['import'], ['from']):
        return True
    if len(words) >= 2 and words[1] == '=' and (words[0] in DOC_ASSIGNMENTS or words[0] == '__metaclass__'):
        return True
    return False


def normalise_python(text):
    """[(line number, normalised line)] of the Python source TEXT: comments, blank lines and boilerplate
    statements left out; a multi-line string counts on the line it starts on."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return normalise_generic(text)
    ignored = (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
               tokenize.ENCODING)
    out, statement = [], []
    for tok in tokens:
        if tok.type == tokenize.NEWLINE:
            if statement and not _skipped_statement(statement):
                rows = {}
                for t in statement:
                    rows.setdefault(t.start[0], []).append(_python_token(t))
                out.extend((row, ' '.join(parts)) for row, parts in sorted(rows.items()))
            statement = []
        elif tok.type not in ignored:
            statement.append(tok)
    return out


_EXPR_TOKEN = re.compile(r'''\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>\d+(?:\.\d+)?)'''
                         r'''|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<op>==|!=|<=|>=|//|\*\*|\S))''')


def normalise_expression(expr):
    """Tokens of a Jinja expression (or any code-like text) with identifiers, strings and numbers as placeholders."""
    out = []
    for match in _EXPR_TOKEN.finditer(expr):
        if match.group('name'):
            word = match.group('name')
            out.append(word if word in JINJA_WORDS else 'N')
        elif match.group('num'):
            out.append('0')
        elif match.group('str'):
            out.append('S')
        elif match.group('op'):
            out.append(match.group('op'))
    return out


_JINJA = re.compile(r'({{.*?}}|{%.*?%})')


def normalise_value(value, expression=False):
    value = value.strip()
    if not value:
        return []
    if value in ('|', '>', '|-', '>-', '|+', '>+'):
        return [value]
    if expression and '{{' not in value and '{%' not in value:
        return normalise_expression(value)
    out = []
    for i, part in enumerate(_JINJA.split(value)):
        if i % 2:
            out.extend([part[:2]] + normalise_expression(part[2:-2]) + [part[-2:]])
        elif part.strip(' \'"'):
            out.append('S')
    return out


_YAML_KEY = re.compile(r'^(?P<indent>\s*)(?P<dash>(?:-\s+)*)(?P<key>[A-Za-z_][\w.\-/]*|"[^"]*"|\'[^\']*\'):(?:\s+|$)')
_YAML_COMMENT = re.compile(r'\s+#.*$')


def normalise_yaml(text, variables_file=False):
    """[(line number, normalised line)] of the YAML TEXT: keys kept (a task's module and parameters are its
    shape), values as placeholders (Jinja expressions token by token), blank and comment lines left out. In a vars
    or defaults file the top-level keys are variable names, so placeholders too."""
    out = []
    expression_indent = None   # set below a `when:` without a value: its list items are expressions
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#') or stripped in ('---', '...'):
            continue
        if '"' not in line and "'" not in line:
            line = _YAML_COMMENT.sub('', line)
        indent = len(line) - len(line.lstrip())
        match = _YAML_KEY.match(line)
        if match:
            key = match.group('key')
            value = line[match.end():]
            tokens = ['-'] * match.group('dash').count('-')
            tokens.append('N' if variables_file and not match.group('indent') and not tokens else key)
            tokens.append(':')
            tokens += normalise_value(value, key in EXPRESSION_KEYS)
            expression_indent = indent if key in EXPRESSION_KEYS and not value.strip() else None
        else:
            body = stripped
            tokens = []
            while body.startswith('- ') or body == '-':
                tokens.append('-')
                body = body[2:].lstrip()
            expression = expression_indent is not None and indent >= expression_indent
            if not expression:
                expression_indent = None
            tokens += normalise_value(body, expression)
        out.append((number, ' '.join(tokens)))
    return out


def normalise_generic(text):
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith('#'):
            out.append((number, ' '.join(normalise_expression(stripped))))
    return out


def duplicate_sources(root):
    """{relative path: [(line number, normalised line)]} of the files the duplicate check reads."""
    sources = {}
    for path in sorted((root / 'plugins').rglob('*.py')):
        sources[rel(path, root)] = normalise_python(path.read_text(encoding='utf-8', errors='replace'))
    for path in sorted((root / 'roles').rglob('*.yml')):
        parts = path.relative_to(root / 'roles').parts
        if len(parts) > 1 and parts[1] == 'meta':   # argument_specs.yml and meta/main.yml: role metadata
            continue
        variables = len(parts) > 1 and parts[1] in ('vars', 'defaults')
        sources[rel(path, root)] = normalise_yaml(path.read_text(encoding='utf-8', errors='replace'), variables)
    return sources


def _window_counts(lines, start, kind):
    window = [text for dummy, text in lines[start:start + WINDOW]]
    nontrivial = sum(1 for text in window if len(text.split()) >= NONTRIVIAL_TOKENS[kind])
    return nontrivial >= MIN_NONTRIVIAL and len(set(window)) >= MIN_DISTINCT


def duplicate_blocks(root, sources=None):
    """[((file, first line), (file, first line), lines)]: each pair of repeated blocks once, overlapping windows
    merged into one block; `lines` counts the lines that count (code, not comments or blank lines)."""
    sources = duplicate_sources(root) if sources is None else sources
    index = {}
    for name, lines in sources.items():
        for start in range(len(lines) - WINDOW + 1):
            if _window_counts(lines, start, 'python' if name.endswith('.py') else 'yaml'):
                key = tuple(text for dummy, text in lines[start:start + WINDOW])
                index.setdefault(key, []).append((name, start))
    pairs = set()
    for places in index.values():
        for i, first in enumerate(places):
            for second in places[i + 1:]:
                if first[0] == second[0] and abs(first[1] - second[1]) < WINDOW:
                    continue   # a run of one shape overlapping itself
                pairs.add((first, second))
    found = []
    for first, second in sorted(pairs):
        previous = ((first[0], first[1] - 1), (second[0], second[1] - 1))
        if previous in pairs:
            continue   # part of a block that started earlier
        length = WINDOW
        while ((first[0], first[1] + length - WINDOW + 1), (second[0], second[1] + length - WINDOW + 1)) in pairs:
            length += 1
        a_lines, b_lines = sources[first[0]], sources[second[0]]
        found.append(((first[0], a_lines[first[1]][0]), (second[0], b_lines[second[1]][0]), length))
    return found


# ---------------------------------------------------------------- the ratchet
def measure(root):
    """(numbers, details): the five numbers and the items behind the counted ones."""
    reads = private_reads(root)
    blocks = duplicate_blocks(root)
    longs = long_python_files(root)
    numbers = {
        'task_lines': task_lines(root),
        'template_markers': template_markers(root),
        'private_reads': len(reads),
        'duplicate_blocks': len(blocks),
        'long_python_files': len(longs),
    }
    details = {
        'private_reads': ['%s:%d: %s (private to role %s)' % item for item in reads],
        'duplicate_blocks': ['%s:%d <-> %s:%d (%d lines)' % (a[0], a[1], b[0], b[1], n) for a, b, n in blocks],
        'long_python_files': ['%s: %d lines' % item for item in longs],
    }
    return numbers, details


def load_limits(path):
    try:
        with open(str(path)) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise SystemExit('structure_metrics: %s is not a JSON object of whole numbers' % path)
    return data


def write_limits(path, limits):
    with open(str(path), 'w') as handle:
        handle.write(json.dumps(dict((k, limits[k]) for k in ORDER if k in limits), indent=2) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--root', type=Path, default=ROOT, help='the checkout (default: this one)')
    parser.add_argument('--limits', type=Path, default=None,
                        help='the ratchet file (default: tests/tools/structure_limits.json of the checkout)')
    parser.add_argument('--update', action='store_true', help='lower the recorded limits to the current numbers')
    args = parser.parse_args(argv)
    root = args.root.resolve()
    limits_path = args.limits or (root / 'tests' / 'tools' / 'structure_limits.json')

    numbers, details = measure(root)
    limits = load_limits(limits_path)
    problems = []
    for name in ORDER:
        value, limit = numbers[name], limits.get(name)
        print('%-18s %5d   limit %5s   target <= %d' % (name, value, '-' if limit is None else limit, TARGETS[name]))
        for item in details.get(name, []):
            print('    ' + item)
        if args.update:
            continue
        if limit is None:
            problems.append('%s has no recorded limit in %s: run %s --update' % (name, limits_path, sys.argv[0]))
        elif value > limit:
            problems.append('%s regressed: %d > its limit %d (target <= %d)' % (name, value, limit, TARGETS[name]))

    if args.update:
        lowered = dict((name, numbers[name] if limits.get(name) is None else min(limits[name], numbers[name]))
                       for name in ORDER)
        kept = [name for name in ORDER if limits.get(name) is not None and numbers[name] > limits[name]]
        write_limits(limits_path, lowered)
        print('structure_metrics: limits written to %s' % limits_path)
        for name in kept:
            print('structure_metrics: %s is %d, over its limit %d: the limit stays (--update never raises one)'
                  % (name, numbers[name], limits[name]))
        return 1 if kept else 0
    for problem in problems:
        print('structure_metrics: ' + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
