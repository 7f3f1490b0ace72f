"""The AWX execution environment's build context, as `ansible-builder create` writes it from the tree.

Usage: check_ee.py TARBALL
TARBALL is the collection tarball built as docs/awx.md says (`ansible-galaxy collection build --output-path
build/ee .`; tests/tools/check_build.sh builds it and calls this script). `ansible-builder create` (the real
tool, pinned in requirements-dev.txt) runs on execution-environment.yml into a temporary folder; the context it
wrote must hold:
- the collection tarball of galaxy.yml's version, byte-identical to TARBALL, named in the galaxy requirements and
  installed by the Containerfile;
- the staged mirror's locks, manifest.json and SHA256SUMS (build/mirror), byte-identical, copied by the
  Containerfile to /opt/codex-mirror, where docs/awx.md points codex_lab_mirror_dir and audit_manifest;
- ansible-core and ansible-runner at the versions this repo tests with (requirements-dev.txt).
The image build itself (`ansible-builder build`) needs a container registry for the base image: not run here.
"""

import filecmp
import subprocess
import sys
import tarfile
import tempfile
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "execution-environment.yml"
MIRROR = ROOT / "build" / "mirror"
MIRROR_FILES = ["manifest.json", "SHA256SUMS"]


def fail(msg):
    sys.exit("check_ee: %s" % msg)


def pins():
    """{name: version} of requirements-dev.txt's name==version lines."""
    out = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.split("[")[0].strip().lower()] = version.strip()
    return out


def tarball_version(tarball):
    with tarfile.open(str(tarball)) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    return "%s.%s" % (info["namespace"], info["name"]), info["version"]


def same_tree(left, right):
    """[relative path] of files that differ or exist on one side only, below two folders."""
    names = set()
    for top in (left, right):
        names.update(str(p.relative_to(top)) for p in top.rglob("*") if p.is_file())
    same = [n for n in names if (left / n).is_file() and (right / n).is_file()
            and filecmp.cmp(str(left / n), str(right / n), shallow=False)]
    return sorted(names - set(same))


def check(tarball, context):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    ee = yaml.safe_load(EE_FILE.read_text())
    name = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    if tarball.name != name:
        fail("the collection tarball is %s, galaxy.yml makes %s" % (tarball.name, name))
    if tarball_version(tarball) != ("%s.%s" % (galaxy["namespace"], galaxy["name"]), galaxy["version"]):
        fail("%s is not galaxy.yml's collection: %r" % (tarball, tarball_version(tarball)))

    # what execution-environment.yml names: the tarball from build/ee, the mirror from build/mirror
    srcs = dict((f["src"], f["dest"]) for f in ee["additional_build_files"])
    expected = {"build/ee/%s" % name: "collections", "build/mirror/locks": "mirror/locks",
                "build/mirror/manifest.json": "mirror", "build/mirror/SHA256SUMS": "mirror"}
    if srcs != expected:
        fail("execution-environment.yml's additional_build_files are %r, expected %r" % (srcs, expected))
    for src in srcs:
        if not (ROOT / src).exists():
            fail("execution-environment.yml names %s, which does not exist (stage the mirror, build the collection)"
                 % src)
    if not filecmp.cmp(str(tarball), str(ROOT / "build" / "ee" / name), shallow=False):
        fail("build/ee/%s is not the tarball just built" % name)

    # the context ansible-builder wrote
    built = context / "_build"
    if not filecmp.cmp(str(tarball), str(built / "collections" / name), shallow=False):
        fail("the context's collections/%s is not the tarball built from the tree" % name)
    requirements = yaml.safe_load((built / "requirements.yml").read_text())
    if requirements.get("collections") != [{"name": "/build/collections/%s" % name, "type": "file"}]:
        fail("the context's requirements.yml does not install /build/collections/%s: %r" % (name, requirements))
    if not sorted(p.name for p in (MIRROR / "locks").glob("*.txt")):
        fail("the staged mirror has no locks under %s" % (MIRROR / "locks"))
    differ = same_tree(MIRROR / "locks", built / "mirror" / "locks")
    differ += [f for f in MIRROR_FILES if not filecmp.cmp(str(MIRROR / f), str(built / "mirror" / f), shallow=False)]
    if differ:
        fail("the context's mirror files are not the staged ones (build/mirror): %s" % ", ".join(differ))
    if (built / "mirror" / "wheels").exists():
        fail("the context carries wheels: the EE must not")

    containerfile = (context / "Containerfile").read_text()
    pin = pins()
    for line in ['ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"'
                 % (pin["ansible-core"], pin["ansible-runner"]),
                 "COPY _build /build",
                 "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml",
                 "COPY _build/mirror/ /opt/codex-mirror/"]:
        if line not in containerfile:
            fail("the Containerfile has no line with %r" % line)
    locks = sorted(p.name for p in (built / "mirror" / "locks").iterdir())
    return ("check_ee: ansible-builder create wrote a context with %s, %d locks, manifest.json and SHA256SUMS "
            "(the staged ones), ansible-core %s, ansible-runner %s"
            % (name, len(locks), pin["ansible-core"], pin["ansible-runner"]))


def main(argv):
    if len(argv) != 2:
        fail("usage: check_ee.py TARBALL")
    tarball = Path(argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="codex-ee-") as tmp:
        context = Path(tmp) / "context"
        builder = Path(sys.executable).parent / "ansible-builder"
        proc = subprocess.run([str(builder), "create", "-f", str(EE_FILE), "-c", str(context),
                               "--output-filename", "Containerfile", "-v", "1"], cwd=str(ROOT),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            fail("ansible-builder create failed (rc %d):\n%s" % (proc.returncode, proc.stdout.decode()[-3000:]))
        print(check(tarball, context))


if __name__ == "__main__":
    main(sys.argv)
