# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docs that match the tree (run by `make lint`).

1. README.md's "What is in it" table has one row per module (plugins/modules), role (roles/) and playbook
   (playbooks/*.yml), and names nothing that does not exist.
2. No tracked Markdown file links to, or names in backticks, a repository path that does not exist. A path counts
   when it starts with one of the repository's top-level entries (roles/, plugins/, docs/, ...); paths with
   placeholders (<id>, *, $VAR, {x}) and generated ones (build/, .venv/) are not checked; a path in backticks may
   also be relative to the document's own folder.
3. galaxy.yml's version agrees with the changelog: it is the latest release of changelogs/changelog.yaml, or newer
   (the version being made); when it is the latest release, no fragment waits in changelogs/fragments/ (a change
   after a release needs the next version in galaxy.yml).
Exit 1 with one line per problem.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATED = ("build/", ".venv/", ".cache/", "collections/")
PLACEHOLDER = re.compile(r"[<>*${}]|\.\.\.|…")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE = re.compile(r"`([^`\n]+)`")


def tracked(pattern):
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return sorted(p for p in out.splitlines() if os.path.exists(os.path.join(ROOT, p)))


def top_level():
    return {p.split("/", 1)[0] for p in tracked("*")}


def inventory():
    """What the README table must list: (kind, the row's first cell)."""
    rows = []
    for path in tracked("plugins/modules/*.py"):
        name = os.path.basename(path)[:-3]
        if name != "__init__":
            rows.append(("module", "codex.offline_ml.%s" % name))
    for name in sorted(os.listdir(os.path.join(ROOT, "roles"))):
        if os.path.isdir(os.path.join(ROOT, "roles", name)):
            rows.append(("role", "roles/%s" % name))
    for path in tracked("playbooks/*.yml"):
        if path.count("/") == 1:
            rows.append(("playbook", path))
    return rows


def table_cells(text, heading):
    """The first cells of the table under `## heading`."""
    section = text.split("\n## %s\n" % heading, 1)
    if len(section) < 2:
        return None
    body = section[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", body, re.M)]


def check_readme_table(problems):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        cells = table_cells(fh.read(), "What is in it")
    if cells is None:
        problems.append("README.md: no '## What is in it' section")
        return
    wanted = inventory()
    for kind, cell in wanted:
        if cell not in cells:
            problems.append("README.md 'What is in it': no row for the %s `%s` (add one: | `%s` | what it does |)"
                            % (kind, cell, cell))
    known = {cell for _kind, cell in wanted}
    for cell in cells:
        if cell not in known:
            problems.append("README.md 'What is in it': row `%s` names no module, role or playbook of the tree" % cell)


def candidates(md_path, text, tops):
    """(line number, path as written, resolved repo-relative path) for each path the doc names."""
    base = os.path.dirname(md_path)
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target):
                continue
            yield number, target, os.path.normpath(os.path.join(base, target))
        for match in CODE.finditer(line):
            token = match.group(1).strip()
            if " " in token or "/" not in token or token.startswith(("/", "~", "-", "http")):
                continue
            first = token.split("/", 1)[0]
            if first not in tops:
                continue
            token = token.split("::", 1)[0].split(":", 1)[0]
            here = os.path.normpath(os.path.join(base, token))
            yield number, token, here if os.path.exists(os.path.join(ROOT, here)) else os.path.normpath(token)


def check_paths(problems):
    tops = top_level() - {"build"}
    for md in tracked("*.md"):
        with open(os.path.join(ROOT, md), encoding="utf-8") as fh:
            text = fh.read()
        for number, written, path in candidates(md, text, tops):
            if PLACEHOLDER.search(written) or path.startswith(GENERATED) or path.startswith(".."):
                continue
            if not os.path.exists(os.path.join(ROOT, path)):
                problems.append("%s:%d names %s, which does not exist" % (md, number, written))


def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_version(problems):
    import yaml  # the dev venv's PyYAML (make lint runs in it)

    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as fh:
        version = str(yaml.safe_load(fh)["version"])
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml"), encoding="utf-8") as fh:
        releases = sorted((yaml.safe_load(fh) or {}).get("releases") or {}, key=version_tuple)
    latest = releases[-1] if releases else None
    pending = [p for p in tracked("changelogs/fragments/*") if p.endswith((".yml", ".yaml"))]
    if latest is None:
        problems.append("changelogs/changelog.yaml has no release (antsibull-changelog release)")
    elif version_tuple(version) < version_tuple(latest):
        problems.append("galaxy.yml version %s is older than the latest release %s in the changelog" % (version, latest))
    elif version == latest and pending:
        problems.append("galaxy.yml version %s is already released, but %d fragment(s) wait in changelogs/fragments: "
                        "set the next version in galaxy.yml" % (version, len(pending)))


def main():
    problems = []
    check_readme_table(problems)
    check_paths(problems)
    check_version(problems)
    for line in problems:
        print(line)
    if problems:
        print("check_docs: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    print("check_docs: README table and every path the docs name are in the tree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
