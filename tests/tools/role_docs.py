"""Keep role docs and defaults in step with meta/argument_specs.yml (the single source).

  role_docs.py          rewrite the variable table in every roles/*/README.md
  role_docs.py --check  fail if a table is out of date, or defaults/main.yml and the spec disagree
"""

import argparse
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- BEGIN VARIABLES (generated from meta/argument_specs.yml by tests/tools/role_docs.py) -->", \
    "<!-- END VARIABLES -->"


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return "`%s`" % value if value else "`\"\"`"
    return "`%s`" % yaml.safe_dump(value, default_flow_style=True, width=1000).strip().replace("...", "").strip()


def _desc(opt):
    d = opt.get("description", "")
    if isinstance(d, list):
        d = " ".join(d)
    return d.replace("|", "\\|").replace("\n", " ")


def table(options, prefix=""):
    rows = ["| Variable | Type | Default | Choices | Description |", "|---|---|---|---|---|"]
    for name, opt in options.items():
        typ = opt.get("type", "str")
        if typ == "list" and opt.get("elements"):
            typ = "list of %s" % opt["elements"]
        choices = ", ".join("`%s`" % c for c in opt.get("choices", []))
        rows.append("| `%s%s` | %s | %s | %s | %s |" % (prefix, name, typ, _fmt(opt.get("default")), choices, _desc(opt)))
        if opt.get("options"):
            rows.extend(table(opt["options"], prefix="%s%s." % (prefix, name))[2:])
    return rows


def check_defaults(role, options, problems):
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {}
    for name in sorted(set(defaults) - set(options)):
        problems.append("%s: %s is in defaults/main.yml but not in meta/argument_specs.yml" % (role.name, name))
    for name in sorted(set(options) - set(defaults)):
        problems.append("%s: %s is in meta/argument_specs.yml but not in defaults/main.yml" % (role.name, name))
    for name in sorted(set(options) & set(defaults)):
        if options[name].get("default") != defaults[name]:
            problems.append("%s: default of %s differs: defaults/main.yml %r, argument_specs %r" % (
                role.name, name, defaults[name], options[name].get("default")))
        if not options[name].get("description"):
            problems.append("%s: %s has no description in meta/argument_specs.yml" % (role.name, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    problems = []
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parents[1]
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options", {})
        check_defaults(role, options, problems)
        readme = role / "README.md"
        text = readme.read_text() if readme.exists() else "# %s\n\n## Variables\n\n%s\n%s\n" % (role.name, BEGIN, END)
        if BEGIN not in text or END not in text:
            problems.append("%s: README.md lacks the generated-variables markers" % role.name)
            continue
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        new = head + BEGIN + "\n" + "\n".join(table(options)) + "\n" + END + tail
        if new != text:
            if args.check:
                problems.append("%s: README.md variable table is out of date; run tests/tools/role_docs.py" % role.name)
            else:
                readme.write_text(new)
                print("updated %s" % readme.relative_to(ROOT))
    for p in problems:
        print("role_docs: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
