# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_wheels: pins, locks, wheel file names and tags, the interpreter probe, availability of a listing."""

from __future__ import absolute_import, division, print_function

import platform
import sys

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _wheels
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError


H1 = '1' * 64
H2 = 'ab' * 32
H3 = 'c' * 64

X86 = 'x86_64'
TAGS_311_228 = _wheels.supported_tags(3, 11, X86, (2, 28))
HOST_311 = {'python_tag': 'cp311', 'platform_tag': 'manylinux_2_28_x86_64'}

# Wheel file names of the listing tests; the torch ones are empty zip files named like the real ones.
ALPHA = 'alpha-1.0-py3-none-any.whl'
BETA = 'beta-2.0+local-py3-none-any.whl'
TORCH_311 = 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl'
TORCH_312 = 'torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl'
MARKUPSAFE = 'markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl'


def raises(kind, func, *args, **kwargs):
    with pytest.raises(MirrorError) as info:
        func(*args, **kwargs)
    assert info.value.kind == kind, info.value.msg
    assert str(info.value) == info.value.msg
    return info.value


# --------------------------------------------------------------------------- pins
@pytest.mark.parametrize('text, expected', [
    ('torch==2.13.0+cpu', ('torch', '2.13.0+cpu')),
    ('  Typing_Extensions == 4.16.0 ', ('typing-extensions', '4.16.0')),
    ('Jinja2==3.1.6', ('jinja2', '3.1.6')),
    ('zope.interface==7.0!1.post1', ('zope-interface', '7.0!1.post1')),
])
def test_parse_pin(text, expected):
    assert _wheels.parse_pin(text) == expected


@pytest.mark.parametrize('text', ['torch', 'torch>=2.13', 'torch==', '==2.13', 'torch==2.*', 'torch===2.13',
                                  'torch==2.13 ; python_version > "3"', 'torch 2.13', '', None,
                                  'torch==2.13,<3', '-e torch==2.13'])
def test_parse_pin_rejects(text):
    error = raises('invalid_pin', _wheels.parse_pin, text)
    assert repr(text) in error.msg and 'name==version' in error.msg


# --------------------------------------------------------------------------- locks
LOCK = '''# Hash-pinned lock, a header comment
#   even an indented comment

Alpha==1.0 \\
    --hash=sha256:%s \\
    --hash=sha256:%s
beta==2.0+local --hash=sha256:%s  # trailing comment
typing_extensions==4.16.0 ; python_version >= "3.8" \\
    --hash=sha256:%s
''' % (H1, H2.upper(), H3, H1)


def test_parse_lock():
    assert _wheels.parse_lock(LOCK) == {
        'alpha': {'version': '1.0', 'hashes': [H1, H2]},
        'beta': {'version': '2.0+local', 'hashes': [H3]},
        'typing-extensions': {'version': '4.16.0', 'hashes': [H1]},
    }


def test_parse_lock_continuation_at_end_of_file():
    assert _wheels.parse_lock('alpha==1.0 \\\n    --hash=sha256:%s \\\n' % H1) == {
        'alpha': {'version': '1.0', 'hashes': [H1]}}


@pytest.mark.parametrize('text, words', [
    ('alpha==1.0\n', ['alpha==1.0', 'no --hash=sha256']),
    ('alpha==1.0 --hash=sha512:%s\n' % ('f' * 128), ['alpha==1.0', 'no --hash=sha256']),
    ('alpha==1.0 --hash=sha256:abc\n', ['alpha==1.0', 'no --hash=sha256']),
    ('beta==2.0 --hash=sha256:%s\nalpha==1.0 \\\n  # just a comment\n' % H1, ['alpha==1.0', 'no --hash']),
    ('--index-url http://mirror.lab/simple/\nalpha==1.0 --hash=sha256:%s\n' % H1, ['--index-url', 'options']),
    ('-e .\n', ['-e .', 'options are not allowed']),
    ('--hash=sha256:%s\n' % H1, ['options are not allowed']),
    ('# only comments\n\n', ['the lock is empty']),
    ('', ['the lock is empty']),
])
def test_parse_lock_rejects(text, words):
    error = raises('invalid_lock', _wheels.parse_lock, text)
    for word in words:
        assert word in error.msg


def test_parse_lock_bad_pin_is_invalid_pin():
    error = raises('invalid_pin', _wheels.parse_lock, 'alpha>=1.0 --hash=sha256:%s\n' % H1)
    assert 'alpha>=1.0' in error.msg


def test_render_lock_round_trip():
    entries = {'beta': {'version': '2.0+local', 'hashes': [H3]},
               'alpha': {'version': '1.0', 'hashes': [H2, H1]}}
    text = _wheels.render_lock(entries, header=['written by the test', 'second line'])
    assert text == ('# written by the test\n# second line\n'
                    'alpha==1.0 \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n'
                    'beta==2.0+local \\\n    --hash=sha256:%s\n' % (H1, H2, H3))
    parsed = _wheels.parse_lock(text)
    assert parsed == {'alpha': {'version': '1.0', 'hashes': [H1, H2]}, 'beta': {'version': '2.0+local', 'hashes': [H3]}}
    assert _wheels.render_lock(parsed, header=['written by the test', 'second line']) == text
    assert _wheels.render_lock(parsed) == text.split('\n', 2)[2]


def test_wanted_set_without_lock():
    assert _wheels.wanted_set(['Torch==2.13.0+cpu', 'uv==0.13.9'], None) == (
        {'torch': '2.13.0+cpu', 'uv': '0.13.9'}, None)
    assert _wheels.wanted_set([], '') == ({}, None)


def test_wanted_set_with_lock_is_the_whole_lock():
    wanted, lock = _wheels.wanted_set(['ALPHA==1.0', 'typing-extensions==4.16.0'], LOCK)
    assert wanted == {'alpha': '1.0', 'beta': '2.0+local', 'typing-extensions': '4.16.0'}
    assert lock == _wheels.parse_lock(LOCK)
    assert _wheels.wanted_set([], LOCK)[0] == wanted


def test_wanted_set_pin_not_in_lock():
    error = raises('lock_mismatch', _wheels.wanted_set, ['alpha==1.0', 'gamma==3.0'], LOCK)
    assert error.details['package'] == 'gamma'
    assert 'gamma==3.0 is requested but the lock does not pin gamma' in error.msg
    assert 'stage_wheels.yml' in error.msg


def test_wanted_set_pin_disagrees_with_lock():
    error = raises('lock_mismatch', _wheels.wanted_set, ['beta==2.0'], LOCK)
    assert error.details['package'] == 'beta'
    assert 'beta==2.0 is requested but the lock pins beta==2.0+local' in error.msg


def test_wanted_set_bad_pin():
    error = raises('invalid_pin', _wheels.wanted_set, ['alpha==1.0', 'torch>=2'], LOCK)
    assert "'torch>=2'" in error.msg


# --------------------------------------------------------------------------- wheel file names and tags
def test_parse_wheel_filename_compressed_tag_sets():
    info = _wheels.parse_wheel_filename(MARKUPSAFE)
    assert info == {'filename': MARKUPSAFE, 'name': 'markupsafe', 'version': '3.0.4', 'tags': {
        ('cp311', 'cp311', 'manylinux2014_x86_64'), ('cp311', 'cp311', 'manylinux_2_17_x86_64'),
        ('cp311', 'cp311', 'manylinux_2_28_x86_64')}}
    assert _wheels.parse_wheel_filename('six-1.17.0-py2.py3-none-any.whl')['tags'] == {
        ('py2', 'none', 'any'), ('py3', 'none', 'any')}


def test_parse_wheel_filename_quoted_version_and_url():
    info = _wheels.parse_wheel_filename('http://127.0.0.1:1/packages/torch-2.13.0%2Bcpu-cp311-cp311-'
                                        'manylinux_2_28_x86_64.whl')
    assert info['filename'] == TORCH_311
    assert info['name'] == 'torch' and info['version'] == '2.13.0+cpu'
    assert info['tags'] == {('cp311', 'cp311', 'manylinux_2_28_x86_64')}


def test_parse_wheel_filename_build_tag_and_name():
    info = _wheels.parse_wheel_filename('Typing_Extensions-4.16.0-1-py3-none-any.whl')
    assert info['name'] == 'typing-extensions' and info['version'] == '4.16.0'
    assert info['tags'] == {('py3', 'none', 'any')}


@pytest.mark.parametrize('name', ['torch-2.13.0.tar.gz', 'torch.whl', 'torch-2.13.0-py3-none.whl',
                                  'a-1-2-3-4-5-6.whl', 'README', ''])
def test_parse_wheel_filename_not_a_wheel(name):
    assert _wheels.parse_wheel_filename(name) is None


def fits(filename, tags=None):
    return bool(_wheels.parse_wheel_filename(filename)['tags'] & (TAGS_311_228 if tags is None else tags))


@pytest.mark.parametrize('filename, expected', [
    (TORCH_311, True),
    ('x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp311-cp311-manylinux2014_x86_64.whl', True),
    ('x-1.0-cp311-cp311-manylinux1_x86_64.whl', True),
    (MARKUPSAFE, True),
    ('x-1.0-cp311-cp311-manylinux_2_31_x86_64.whl', False),
    ('x-1.0-cp311-cp311-manylinux_2_28_aarch64.whl', False),
    ('x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp311-abi3-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl', False),
    (TORCH_312, False),
    ('x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl', False),
    ('x-1.0-cp311-cp311-linux_x86_64.whl', True),
    ('x-1.0-py3-none-any.whl', True),
    ('x-1.0-py2.py3-none-any.whl', True),
    ('x-1.0-py2-none-any.whl', False),
    ('x-1.0-cp311-none-any.whl', True),
    ('uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', True),
    ('x-1.0-cp311-cp311-win_amd64.whl', False),
    ('x-1.0-cp311-cp311-macosx_11_0_x86_64.whl', False),
])
def test_supported_tags_cp311_glibc_2_28(filename, expected):
    assert fits(filename) is expected


def test_supported_tags_without_glibc_has_no_manylinux():
    tags = _wheels.supported_tags(3, 11, X86)
    assert not [t for t in tags if 'manylinux' in t[2]]
    assert fits('x-1.0-cp311-cp311-linux_x86_64.whl', tags)
    assert not fits(TORCH_311, tags)
    assert fits('x-1.0-py3-none-any.whl', tags)


def test_expand_platforms():
    expanded = _wheels.expand_platforms(['manylinux_2_28_x86_64'])
    assert expanded[0] == 'manylinux_2_28_x86_64'
    assert expanded[:12] == ['manylinux_2_%d_x86_64' % m for m in range(28, 16, -1)]
    for plat in ('manylinux_2_17_x86_64', 'manylinux_2_5_x86_64', 'manylinux2014_x86_64', 'manylinux2010_x86_64',
                 'manylinux1_x86_64'):
        assert plat in expanded
    for plat in ('manylinux_2_29_x86_64', 'manylinux_2_31_x86_64', 'manylinux_2_4_x86_64'):
        assert plat not in expanded
    assert len(expanded) == len(set(expanded))


def test_expand_platforms_keeps_others_and_removes_duplicates():
    expanded = _wheels.expand_platforms(['linux_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_12_x86_64',
                                         'manylinux_2_17_aarch64'])
    assert expanded[0] == 'linux_x86_64'
    assert len(expanded) == len(set(expanded))
    assert 'manylinux2014_x86_64' in expanded and 'manylinux2014_aarch64' in expanded
    assert 'manylinux_2_5_aarch64' in expanded
    assert _wheels.expand_platforms(['any', 'any']) == ['any']


def test_probe_interpreter_and_tags_for():
    info = _wheels.probe_interpreter(sys.executable)
    assert (info['major'], info['minor']) == sys.version_info[:2]
    assert info['python_tag'] == 'cp%d%d' % sys.version_info[:2]
    assert info['version'] == platform.python_version()
    assert info['machine'] == platform.machine()
    libc, version = platform.libc_ver()
    if libc == 'glibc':
        assert info['platform_tag'] == 'manylinux_%s_%s' % (version.replace('.', '_'), platform.machine())
    tags = _wheels.tags_for(info)
    assert ('py3', 'none', 'any') in tags
    assert (info['python_tag'], info['python_tag'], 'linux_' + platform.machine()) in tags


def test_probe_interpreter_missing(tmp_path):
    error = raises('no_python', _wheels.probe_interpreter, str(tmp_path / 'python9'))
    assert str(tmp_path / 'python9') in error.msg and 'does not exist' in error.msg


def test_probe_interpreter_failing(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho "no such runtime" >&2\nexit 1\n')
    fake.chmod(0o755)
    error = raises('no_python', _wheels.probe_interpreter, str(fake))
    assert 'failed to start' in error.msg and 'no such runtime' in error.msg


@pytest.mark.parametrize('body, words', [
    ('exec sleep 30\n', 'did not answer within 1s'),
    ('echo "not json"\n', 'printed no tag information'),
    ('', 'printed no tag information'),
])
def test_probe_interpreter_hang_or_nonsense(tmp_path, body, words):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\n' + body)
    fake.chmod(0o755)
    error = raises('no_python', _wheels.probe_interpreter, str(fake), timeout=1)
    assert words in error.msg and str(fake) in error.msg


def test_probe_interpreter_that_cannot_be_executed(tmp_path):
    fake = tmp_path / 'python'
    fake.write_bytes(b'\x7fELF\x02\x01\x01' + b'\0' * 9 + b'\x02\x00\xb7\x00')   # aarch64 binary
    fake.chmod(0o755)
    error = raises('no_python', _wheels.probe_interpreter, str(fake))
    assert 'cannot be run' in error.msg


# --------------------------------------------------------------------------- availability
def summary(listing):
    return dict((name, sorted((f['filename'], f['version'], f['sha256']) for f in files))
                for name, files in listing.items())


def listing_of(*filenames, **hashes):
    listing = _wheels.listing_from_names(filenames, ['alpha', 'beta', 'torch', 'markupsafe'])
    for files in listing.values():
        for info in files:
            info['sha256'] = hashes.get(info['name'])
    return listing


def test_listing_from_names():
    listing = _wheels.listing_from_names([ALPHA, 'notes.txt', 'zeta-1.0-py3-none-any.whl', TORCH_311],
                                         ['alpha', 'torch'])
    assert summary(listing) == {'alpha': [(ALPHA, '1.0', None)], 'torch': [(TORCH_311, '2.13.0+cpu', None)]}
    assert listing['alpha'][0]['url'] == ALPHA


def test_check_availability_chosen():
    listing = listing_of(ALPHA, 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'alpha-0.9-py3-none-any.whl',
                         'torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl', TORCH_312, MARKUPSAFE)
    chosen = _wheels.check_availability({'alpha': '1.0', 'torch': '2.13.0+cpu', 'markupsafe': '3.0.4'}, listing,
                                        TAGS_311_228, HOST_311, 'http://m/simple/')
    assert chosen == {'alpha': 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'torch': TORCH_311,
                      'markupsafe': MARKUPSAFE}


def test_check_availability_missing():
    listing = listing_of('alpha-0.9-py3-none-any.whl', 'alpha-1.1-py3-none-any.whl', ALPHA)
    error = raises('missing_package', _wheels.check_availability, {'alpha': '2.0', 'beta': '2.0+local'},
                   listing, TAGS_311_228, HOST_311, 'http://m/simple/')
    assert error.msg == ('not in mirror http://m/simple/: alpha==2.0 (mirror has: 0.9, 1.0, 1.1); '
                         'beta==2.0+local (mirror has: no versions)')
    assert len(error.details['missing']) == 2


def test_check_availability_unfit_names_python_tag():
    listing = listing_of(TORCH_312, 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_31_x86_64.whl')
    error = raises('no_compatible_wheel', _wheels.check_availability, {'torch': '2.13.0+cpu'}, listing,
                   TAGS_311_228, HOST_311, 'http://m/simple/')
    assert 'no wheel in mirror http://m/simple/ fits this host (Python tag cp311, platform manylinux_2_28_x86_64)' \
        in error.msg
    assert TORCH_312 in error.msg and 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_31_x86_64.whl' in error.msg


def test_check_availability_lists_every_problem():
    listing = listing_of(TORCH_312, ALPHA)
    error = raises('missing_package', _wheels.check_availability, {'alpha': '1.0', 'beta': '1', 'torch': '2.13.0+cpu'},
                   listing, TAGS_311_228, HOST_311, 'L')
    assert error.msg.startswith('not in mirror L: beta==1 (mirror has: no versions). no wheel in mirror L fits')
    assert error.details['unfit'] and error.details['missing']


def test_check_availability_hash():
    lock = {'alpha': {'version': '1.0', 'hashes': [H1, H2]}}
    chosen = _wheels.check_availability({'alpha': '1.0'}, listing_of(ALPHA, alpha=H2), TAGS_311_228, HOST_311, 'L',
                                        lock)
    assert chosen == {'alpha': ALPHA}
    # a listing without hashes (find_links, wheelhouse) cannot be compared: the installer checks later
    assert _wheels.check_availability({'alpha': '1.0'}, listing_of(ALPHA), TAGS_311_228, HOST_311, 'L', lock)
    error = raises('hash_mismatch', _wheels.check_availability, {'alpha': '1.0'}, listing_of(ALPHA, alpha=H3),
                   TAGS_311_228, HOST_311, 'http://m/simple/', lock)
    assert error.msg == 'hash mismatch in mirror http://m/simple/: %s (mirror sha256 %s, lock expects %s or %s)' % (
        ALPHA, H3, H1, H2)


def test_check_availability_names_a_lock_staged_for_another_python():
    """A cp312 lock on a cp311 host, both wheels in the mirror: not a tampered mirror, the wrong lock."""
    listing = listing_of(TORCH_311, TORCH_312)
    for info in listing['torch']:
        info['sha256'] = H1 if info['filename'] == TORCH_312 else H2
    lock = {'torch': {'version': '2.13.0+cpu', 'hashes': [H1]}}
    error = raises('lock_for_other_python', _wheels.check_availability, {'torch': '2.13.0+cpu'}, listing,
                   TAGS_311_228, HOST_311, 'L', lock)
    assert error.msg == ("the lock was staged for another Python or platform than this host's (Python tag cp311, "
                         "platform manylinux_2_28_x86_64): torch==2.13.0+cpu (the lock's %s does not fit this host; "
                         "the mirror's %s is not in the lock)" % (TORCH_312, TORCH_311))
    assert 'hash mismatch' not in error.msg
    # a fitting wheel whose hash is in no file of the mirror is still a hash mismatch
    lock = {'torch': {'version': '2.13.0+cpu', 'hashes': [H3]}}
    raises('hash_mismatch', _wheels.check_availability, {'torch': '2.13.0+cpu'}, listing, TAGS_311_228, HOST_311,
           'L', lock)
