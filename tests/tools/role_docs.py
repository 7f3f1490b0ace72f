"""Keep role docs and defaults in step with meta/argument_specs.yml (the single source).

  role_docs.py          rewrite the variable tables in every roles/*/README.md (main's, and another entry
                        point's, e.g. audit, where the README has markers naming it)
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


def markers(entry):
    """The README markers around entry point ENTRY's table (main: BEGIN/END; others name the entry point)."""
    if entry == "main":
        return BEGIN, END
    return (BEGIN.replace("VARIABLES (", "VARIABLES OF ENTRY POINT %s (" % entry),
            END.replace("VARIABLES", "VARIABLES OF ENTRY POINT %s" % entry))


def check_entry_defaults(role, entry, options, main_options, problems):
    """Another entry point (tasks_from) shares the role's variables: same spec as main, or its own with no default."""
    for name, opt in sorted(options.items()):
        if name in main_options:
            if opt != main_options[name]:
                problems.append("%s: %s differs between entry points main and %s" % (role.name, name, entry))
        elif "default" in opt:
            problems.append("%s: %s (entry point %s only) has a default; only main's variables have defaults" % (
                role.name, name, entry))
        if not opt.get("description"):
            problems.append("%s: %s has no description in entry point %s" % (role.name, name, entry))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    problems = []
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parents[1]
        specs = yaml.safe_load(spec_file.read_text())["argument_specs"]
        options = specs["main"].get("options", {})
        check_defaults(role, options, problems)
        readme = role / "README.md"
        text = readme.read_text() if readme.exists() else "# %s\n\n## Variables\n\n%s\n%s\n" % (role.name, BEGIN, END)
        new = text
        for entry in ["main"] + sorted(set(specs) - {"main"}):
            entry_options = specs[entry].get("options", {})
            if entry != "main":
                check_entry_defaults(role, entry, entry_options, options, problems)
            begin, end = markers(entry)
            if entry != "main" and begin not in new and end not in new:
                continue  # a README shows another entry point's table where it has that entry point's markers
            if begin not in new or end not in new:
                problems.append("%s: README.md lacks the generated-variables markers%s" % (
                    role.name, "" if entry == "main" else " of entry point %s" % entry))
                continue
            head, rest = new.split(begin, 1)
            _old, tail = rest.split(end, 1)
            new = head + begin + "\n" + "\n".join(table(entry_options)) + "\n" + end + tail
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
